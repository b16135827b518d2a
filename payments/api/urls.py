"""payments API routes."""

from django.urls import path

from . import views

urlpatterns = [
    path("orders", views.OrderListCreate.as_view(), name="order-list"),
    path("orders/<str:order_id>", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<str:order_id>/pay", views.OrderPay.as_view(), name="order-pay"),
    path("orders/<str:order_id>/refund", views.OrderRefund.as_view(), name="order-refund"),
    path("orders/<str:order_id>/ledger", views.OrderLedger.as_view(), name="order-ledger"),
    path("ledger/summary", views.LedgerSummary.as_view(), name="ledger-summary"),
    path("checkout", views.Checkout.as_view(), name="checkout"),
    path("webhooks/provider", views.ProviderWebhook.as_view(), name="provider-webhook"),
]
