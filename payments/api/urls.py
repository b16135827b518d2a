"""payments API routes."""

urlpatterns: list = []
