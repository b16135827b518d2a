"""`make bench`: the API under load next to a raw SQL baseline (see __main__.py)."""
