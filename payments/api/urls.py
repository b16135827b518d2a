"""payments API routes."""

from django.urls import path

from mintguard_site.api.auth import scoped
from mintguard_site.api.models import Scope

from . import authorizations, settlements, views

urlpatterns = [
    path("orders", scoped(views.OrderListCreate, Scope.PAYMENTS), name="order-list"),
    path("orders/<str:order_id>", scoped(views.OrderDetail, Scope.PAYMENTS), name="order-detail"),
    path("orders/<str:order_id>/pay", scoped(views.OrderPay, Scope.PAYMENTS), name="order-pay"),
    path("orders/<str:order_id>/authorize", scoped(authorizations.OrderAuthorize, Scope.PAYMENTS),
         name="order-authorize"),
    path("orders/<str:order_id>/capture", scoped(authorizations.OrderCapture, Scope.PAYMENTS), name="order-capture"),
    path("orders/<str:order_id>/void", scoped(authorizations.OrderVoid, Scope.PAYMENTS), name="order-void"),
    path("orders/<str:order_id>/refund", scoped(views.OrderRefund, Scope.PAYMENTS), name="order-refund"),
    path("orders/<str:order_id>/ledger", scoped(views.OrderLedger, Scope.PAYMENTS), name="order-ledger"),
    # The platform's books, other clients' totals included: not part of taking payments.
    path("ledger/summary", scoped(views.LedgerSummary, Scope.BOOKS), name="ledger-summary"),
    path("settlements", scoped(settlements.SettlementList, Scope.BOOKS), name="settlement-list"),
    path("settlements/<str:run_id>", scoped(settlements.SettlementDetail, Scope.BOOKS), name="settlement-detail"),
    path("checkout", scoped(views.Checkout, Scope.PAYMENTS), name="checkout"),
    # Signed by the provider, not called with an API key: no scope.
    path("webhooks/provider", views.ProviderWebhook.as_view(), name="provider-webhook"),
]
