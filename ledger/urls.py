"""Dashboard routes of the ledger (the API's are in ledger/api/urls.py)."""

from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("ledger/", views.account_list, name="accounts"),
    path("ledger/trial-balance/", views.trial_balance, name="trial-balance"),
    path("ledger/trial-balance.csv", views.trial_balance_csv, name="trial-balance-csv"),
    path("ledger/accounts/<uuid:account_id>/", views.account_detail, name="account-detail"),
    path("ledger/accounts/<uuid:account_id>/statement.csv", views.account_statement_csv,
         name="account-statement-csv"),
    path("ledger/transactions/<uuid:transaction_id>/", views.transaction_detail, name="transaction-detail"),
    path("ledger/transactions/<uuid:transaction_id>/reverse/", views.transaction_reverse, name="transaction-reverse"),
    path("holds/", views.hold_list, name="holds"),
    path("holds/<uuid:hold_id>/", views.hold_detail, name="hold-detail"),
    path("holds/<uuid:hold_id>/void/", views.hold_void, name="hold-void"),
    path("reconciliation/", views.reconciliation, name="reconciliation"),
    path("reconciliation/run/", views.reconciliation_run, name="reconciliation-run"),
    path("reconciliation/status/", views.reconciliation_status, name="reconciliation-status"),
]
