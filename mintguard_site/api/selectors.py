"""Reads of the API's own tables that the dashboard's pages need."""

from django.contrib.auth import get_user_model

from mintguard_site.search import as_uuid

from .auth import OPERATOR_OWNER_PREFIX
from .models import ApiClient


def owner_names(owners) -> dict[str, str]:
    """Map owner strings (API client ids, `operator:<user id>`) to readable names, in two queries."""
    owners = {o for o in owners if o}
    client_ids = [o for o in owners if as_uuid(o)]
    user_ids = [o.removeprefix(OPERATOR_OWNER_PREFIX) for o in owners if o.startswith(OPERATOR_OWNER_PREFIX)]
    names = {}
    if client_ids:
        names.update({str(pk): f"{name} (API client)" for pk, name in ApiClient.objects.filter(pk__in=client_ids)
                     .values_list("pk", "name")})
    user_ids = [int(pk) for pk in user_ids if pk.isascii() and pk.isdigit()]  # "²".isdigit() is True
    if user_ids:
        names.update({f"{OPERATOR_OWNER_PREFIX}{pk}": f"{username} (operator)" for pk, username in
                      get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")})
    return names
