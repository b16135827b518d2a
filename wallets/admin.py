"""Admin for wallets: read-only; money moves only through the wallet services."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin
from ledger.currencies import format_amount
from ledger.models import bucket_sum

from .models import Wallet


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "currency", "balance_display", "owner", "account", "created_at")
    list_filter = ("currency",)
    search_fields = ("user_id", "owner", "account__id")
    list_select_related = ("account",)
    ordering = ("-created_at",)
    fields = ("id", "owner", "user_id", "currency", "account", "balance_display", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(balance=bucket_sum("account_id"))

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, wallet: Wallet) -> str:
        return format_amount(wallet.balance, wallet.currency)
