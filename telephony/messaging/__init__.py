"""Inbound text messages: opt-out keywords and auto-replies."""
