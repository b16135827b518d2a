"""Wallets API routes, under /api/v1/wallets/."""

from django.urls import path

from . import views

urlpatterns = [
    path("topup", views.WalletTopup.as_view(), name="wallet-topup"),
    path("bonus", views.WalletBonus.as_view(), name="wallet-bonus"),
    path("spend", views.WalletSpend.as_view(), name="wallet-spend"),
    # `path`, not `str`: a user_id may contain "/" (sent percent-encoded as %2F).
    path("<path:user_id>/balance", views.WalletBalance.as_view(), name="wallet-balance"),
]
