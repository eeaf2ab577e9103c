"""Releases: publish the draft, roll back to an earlier release, reset the draft, move
releases between environments. `publishing` and `drafts` are the services; `changes`
says in words what differs between two releases."""
