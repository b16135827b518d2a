"""Ledger API routes: accounts, movements, transfers, reversals, holds and statements, all in the `accounts`
scope; the trial balance (the platform's books) in `books`."""

from django.urls import path

from mintguard_site.api.auth import scoped
from mintguard_site.api.models import Scope

from . import views

urlpatterns = [
    path("accounts", scoped(views.AccountListCreate, Scope.ACCOUNTS), name="account-list"),
    path("accounts/<str:account_id>", scoped(views.AccountDetail, Scope.ACCOUNTS), name="account-detail"),
    path("accounts/<str:account_id>/deposit", scoped(views.AccountDeposit, Scope.ACCOUNTS), name="account-deposit"),
    path("accounts/<str:account_id>/withdraw", scoped(views.AccountWithdraw, Scope.ACCOUNTS), name="account-withdraw"),
    path("accounts/<str:account_id>/statement", scoped(views.AccountStatement, Scope.ACCOUNTS),
         name="account-statement"),
    path("transfers", scoped(views.TransferCreate, Scope.ACCOUNTS), name="transfer-create"),
    path("transfers/batch", scoped(views.TransferBatchCreate, Scope.ACCOUNTS), name="transfer-batch"),
    path("transfers/<str:transfer_id>", scoped(views.TransferDetail, Scope.ACCOUNTS), name="transfer-detail"),
    path("transactions/<str:transaction_id>/reverse", scoped(views.TransactionReverse, Scope.ACCOUNTS),
         name="transaction-reverse"),
    path("ledger/trial-balance", scoped(views.TrialBalance, Scope.BOOKS), name="ledger-trial-balance"),
    path("holds", scoped(views.HoldListCreate, Scope.ACCOUNTS), name="hold-list"),
    path("holds/<str:hold_id>", scoped(views.HoldDetail, Scope.ACCOUNTS), name="hold-detail"),
    path("holds/<str:hold_id>/capture", scoped(views.HoldCapture, Scope.ACCOUNTS), name="hold-capture"),
    path("holds/<str:hold_id>/void", scoped(views.HoldVoid, Scope.ACCOUNTS), name="hold-void"),
]
