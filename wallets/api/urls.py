"""Wallets API routes, under /api/v1/wallets/."""

from django.urls import path

from mintguard_site.api.auth import scoped
from mintguard_site.api.models import Scope

from . import views

urlpatterns = [
    path("topup", scoped(views.WalletTopup, Scope.WALLETS), name="wallet-topup"),
    path("bonus", scoped(views.WalletBonus, Scope.WALLETS), name="wallet-bonus"),
    path("spend", scoped(views.WalletSpend, Scope.WALLETS), name="wallet-spend"),
    path("hold", scoped(views.WalletHoldCreate, Scope.WALLETS), name="wallet-hold"),
    path("holds/<str:hold_id>/capture", scoped(views.WalletHoldCapture, Scope.WALLETS), name="wallet-hold-capture"),
    path("holds/<str:hold_id>/void", scoped(views.WalletHoldVoid, Scope.WALLETS), name="wallet-hold-void"),
    # `path`, not `str`: a user_id may contain "/" (sent percent-encoded as %2F).
    path("<path:user_id>/balance", scoped(views.WalletBalance, Scope.WALLETS), name="wallet-balance"),
]
