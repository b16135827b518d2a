from django.urls import path

from . import views

urlpatterns = [
    path("accounts", views.AccountListCreate.as_view(), name="account-list"),
    path("accounts/<str:account_id>", views.AccountDetail.as_view(), name="account-detail"),
    path("accounts/<str:account_id>/deposit", views.AccountDeposit.as_view(), name="account-deposit"),
    path("accounts/<str:account_id>/withdraw", views.AccountWithdraw.as_view(), name="account-withdraw"),
    path("accounts/<str:account_id>/statement", views.AccountStatement.as_view(), name="account-statement"),
    path("transfers", views.TransferCreate.as_view(), name="transfer-create"),
    path("transfers/batch", views.TransferBatchCreate.as_view(), name="transfer-batch"),
    path("transfers/<str:transfer_id>", views.TransferDetail.as_view(), name="transfer-detail"),
]
