"""Dashboard routes of the ledger (the API's are in ledger/api/urls.py)."""

from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("ledger/", views.account_list, name="accounts"),
    path("ledger/accounts/<uuid:account_id>/", views.account_detail, name="account-detail"),
    path("ledger/transactions/<uuid:transaction_id>/", views.transaction_detail, name="transaction-detail"),
    path("holds/", views.hold_list, name="holds"),
    path("holds/<uuid:hold_id>/", views.hold_detail, name="hold-detail"),
    path("holds/<uuid:hold_id>/void/", views.hold_void, name="hold-void"),
    path("reconciliation/", views.reconciliation, name="reconciliation"),
    path("reconciliation/run/", views.reconciliation_run, name="reconciliation-run"),
    path("reconciliation/status/", views.reconciliation_status, name="reconciliation-status"),
]
