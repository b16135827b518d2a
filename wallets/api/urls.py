"""wallets API routes."""

urlpatterns: list = []
