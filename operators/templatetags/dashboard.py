"""Template filters and tags of the dashboard: money, ids, links that keep the filters."""

from django import template
from django.utils import timezone

from ledger.currencies import format_amount

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """Format minor units with the currency's exponent and code: 1200|money:"USD" -> 12.00 USD."""
    if amount is None or amount == "":
        return ""
    return format_amount(int(amount), currency)


@register.filter
def short_id(value) -> str:
    """The first 8 characters of an id: what the lists show and what search accepts."""
    return str(value)[:8]


@register.filter
def status_class(status) -> str:
    return f"status-{str(status).lower().replace('_', '-')}"


@register.filter
def age(moment) -> str:
    """How long ago, compactly: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if not moment:
        return ""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """Return `?...` with the current request's parameters, `changes` applied (None or "" removes)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping, key):
    """`names|get_item:order.owner`: a dict lookup by a variable key."""
    return mapping.get(key) if hasattr(mapping, "get") else None


_AUDIT_MONEY_KEYS = ("amount", "refunded_amount")
_AUDIT_ID_KEYS = ("refund_id",)


@register.filter
def audit_changes(entry) -> list[tuple[str, str, str]]:
    """What an audit entry changed, as (field, before, after), money formatted, ids shortened.

    A field only in `after` (the refund id, the amount refunded) has an empty `before`; a field
    that did not change is left out.
    """
    before, after = entry.before or {}, entry.after or {}
    currency = after.get("currency") or before.get("currency")

    def shown(key, value):
        if value in (None, ""):
            return ""
        if key in _AUDIT_MONEY_KEYS and currency and isinstance(value, int):
            return format_amount(value, currency)
        if key in _AUDIT_ID_KEYS:
            return str(value)[:8]
        return str(value)

    changes = []
    for key in [*before, *(k for k in after if k not in before)]:
        if key == "currency" or before.get(key) == after.get(key):
            continue
        changes.append((key.replace("_", " "), shown(key, before.get(key)), shown(key, after.get(key))))
    return changes
