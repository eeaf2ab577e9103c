"""Template tags of the telephony app (the admin home page)."""
