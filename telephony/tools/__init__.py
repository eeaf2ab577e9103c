"""Trying flows without a phone: the call simulator, the flow checks and the diagram."""
