"""Dashboard routes of wallets (the API's are in wallets/api/urls.py)."""

from django.urls import path

from . import views

app_name = "wallets"

urlpatterns = [
    path("wallets/", views.wallet_lookup, name="lookup"),
]
