"""Template filters and tags of the dashboard frame: ids, statuses, times, ages, links that keep the filters.

They know no app; money is formatted by the ledger's library (`{% load money %}`).
"""

from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def short_id(value) -> str:
    """The first 8 characters of an id: what the lists show and what search accepts."""
    return str(value)[:8]


@register.filter
def status_class(status) -> str:
    return f"status-{str(status).lower().replace('_', '-')}"


_TIME_FORMATS = {"date": "", "minutes": ", %H:%M UTC", "seconds": ", %H:%M:%S UTC"}


@register.filter
def when(value, precision: str = "minutes") -> str:
    """A `<time>` in UTC with the zone named: "2 Dec, 06:45 UTC", the year added when it is not this one.

    `precision` is "minutes", "seconds" (events that follow each other within a minute) or "date".
    """
    if not value:
        return ""
    utc = value.astimezone(UTC)
    shown = f"{utc.day} {utc:%b}"
    if utc.year != timezone.now().year:
        shown += f" {utc.year}"
    shown += utc.strftime(_TIME_FORMATS[precision])
    return format_html('<time datetime="{}">{}</time>', utc.isoformat(timespec="seconds"), shown)


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
