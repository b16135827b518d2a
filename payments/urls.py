"""Dashboard routes of payments (the API's are in payments/api/urls.py)."""

from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("orders/", views.order_list, name="orders"),
    path("orders.csv", views.order_list_csv, name="orders-csv"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order-detail"),
    path("orders/<uuid:order_id>/refund/", views.order_refund, name="order-refund"),
    path("orders/<uuid:order_id>/void/", views.order_void, name="order-void"),
    path("pending/", views.pending_list, name="pending"),
    path("pending/<uuid:order_id>/resolve/", views.pending_resolve, name="pending-resolve"),
    path("refunds/", views.refund_list, name="refunds"),
    path("settlements/", views.settlement_list, name="settlements"),
    path("settlements/upload/", views.settlement_upload, name="settlement-upload"),
    path("settlements/<uuid:run_id>/", views.settlement_detail, name="settlement-detail"),
    path("settlements/breaks/<uuid:break_id>/resolve/", views.settlement_resolve, name="settlement-resolve"),
    path("refunds.csv", views.refund_list_csv, name="refunds-csv"),
]
