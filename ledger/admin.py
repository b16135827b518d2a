"""Admin for the ledger. Money rows are read-only: money moves only through the services."""

from django.contrib import admin

from mintguard_site.admin_readonly import ReadOnlyAdmin, ReadOnlyInline

from .currencies import format_amount
from .models import Account, Posting, Transaction


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("account", "bucket", "entry_number", "direction", "amount", "currency", "balance_after")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "currency", "kind", "balance_display", "is_system", "managed_by", "owner", "created_at")
    list_filter = ("is_system", "managed_by", "kind", "currency")
    search_fields = ("id", "name", "owner")
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).with_balance()

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, account: Account) -> str:
        return format_amount(account.balance, account.currency)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "namespace", "reference", "owner", "description")
    list_filter = ("kind", "namespace")
    search_fields = ("id", "reference", "description", "owner")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", "direction", "amount", "currency", "bucket", "entry_number",
                    "balance_after")
    list_filter = ("direction", "currency")
    search_fields = ("transaction__reference", "account__name", "account__id")
    list_select_related = ("transaction", "account")
    ordering = ("-id",)
