"""What django-axes needs from us to guard sign-in: the client's address and when a lockout ends.

Axes counts failed sign-ins in `AccessAttempt` rows, one per (username, IP, user agent), each with
its failure count and the time of its latest failure. A caller is locked out while the rows that
match its username, or its IP, and failed within the cool-off add up to the failure limit.
"""

import ipaddress
import math
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.utils import timezone

from mintguard_site.ratelimit import client_ip


def lockout_client_ip(request) -> str | None:
    """Return the caller's IP as the API throttle sees it (MINTGUARD_PROXY_HOPS), if it is an IP at all.

    Axes stores it in an address column: anything else (a proxy's garbage) is stored as no address.
    """
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def seconds_until_unlocked(request, credentials: dict | None) -> int:
    """Return the whole seconds until this caller may sign in again (at least 1): its Retry-After.

    Failures leave the count in the order they were last made, one cool-off after each; the lockout
    ends when what is left of the failures over the username, and over the IP, is under the limit.
    """
    cool_off = get_cool_off(request) or timedelta(0)
    limit = get_failure_limit(request, credentials)
    now = timezone.now()
    unlocked_at = now
    for attempts in AxesDatabaseHandler().get_user_attempts(request, credentials):
        rows = list(attempts.order_by("attempt_time").values_list("attempt_time", "failures_since_start"))
        counted = sum(failures for _, failures in rows)
        for attempt_time, failures in rows:
            if counted < limit:
                break
            unlocked_at = max(unlocked_at, attempt_time + cool_off)
            counted -= failures
    return max(1, math.ceil((unlocked_at - now).total_seconds()))
