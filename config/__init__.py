"""Project configuration: settings package, root URLconf, WSGI entry point."""
