"""Template filters and tags of the dashboard frame: ids, statuses, ages, links that keep the filters.

They know no app; money is formatted by the ledger's library (`{% load money %}`).
"""

from django import template
from django.utils import timezone

register = template.Library()


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
