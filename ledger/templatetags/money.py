"""Template filters that format money: amounts in minor units, shown with their currency's exponent.

They live with the currencies (`ledger.currencies`), so the dashboard frame needs no app.
"""

from django import template

from ledger.currencies import format_amount

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """Format minor units with the currency's exponent and code: 1200|money:"USD" -> 12.00 USD."""
    if amount is None or amount == "":
        return ""
    return format_amount(int(amount), currency)


_MONEY_KEYS = ("amount", "refunded_amount")
_ID_KEYS = ("refund_id",)


@register.filter
def audit_changes(entry) -> list[tuple[str, str, str]]:
    """What an audit entry changed, as (field, before, after), money formatted, ids shortened.

    A field only in `after` (the refund id, the amount refunded) has an empty `before`; a field
    that did not change is left out. Here rather than with the audit log, which imports no app:
    its amounts need the currencies.
    """
    before, after = entry.before or {}, entry.after or {}
    currency = after.get("currency") or before.get("currency")

    def shown(key, value):
        if value in (None, ""):
            return ""
        if key in _MONEY_KEYS and currency and isinstance(value, int):
            return format_amount(value, currency)
        if key in _ID_KEYS:
            return str(value)[:8]
        return str(value)

    changes = []
    for key in [*before, *(k for k in after if k not in before)]:
        if key == "currency" or before.get(key) == after.get(key):
            continue
        changes.append((key.replace("_", " "), shown(key, before.get(key)), shown(key, after.get(key))))
    return changes
