"""Helpers for the dashboard tests (plain functions, imported; fixtures stay in conftest)."""


def htmx(**headers) -> dict:
    """The headers htmx sends with a request (a fragment request, not a boosted one)."""
    return {"HTTP_HX_REQUEST": "true", **{f"HTTP_HX_{k.upper()}": v for k, v in headers.items()}}
