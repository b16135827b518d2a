"""Who is calling: an API client with a bearer key, or an operator through the browsable API.

`request.user` is the ApiClient for key-authenticated calls. Operators (dashboard users) come
through Django sessions with CSRF and see every client's rows; API clients see only their own.
An API client calls only routes within its key's scopes: each route declares its scope where its
URL is wired, `scoped(View, Scope.X)`, and a route that declares none refuses every key.

Each process remembers the clients its keys found for MINTGUARD_API_KEY_CACHE_SECONDS (default 5;
0 turns it off), by the key's digest, so a steady client costs no query to authenticate. A revoke,
a rotation or any save of the client forgets it at once in the process that made it; every other
process stops accepting a revoked key within that many seconds (docs/operations.md).
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from .errors import ApiError
from .models import ApiClient, Scope, hash_api_key

# last_used_at is written at most this often, so it never becomes a hot row.
LAST_USED_GRANULARITY = timedelta(minutes=1)
OPERATOR_OWNER_PREFIX = "operator:"


@dataclass(frozen=True)
class _Remembered:
    client: ApiClient
    by_previous_key: bool  # found by the key a rotation replaced: valid only until its grace ends
    until: float  # time.monotonic() after which the database is asked again


_known_keys: dict[str, _Remembered] = {}
_known_keys_lock = threading.Lock()


def forget_api_client(client_id, *digests: str) -> None:
    """Drop every remembered key of this client (and these digests) in this process, now and again
    when the caller's transaction commits: a request in between may have read the row as it was."""

    def forget() -> None:
        with _known_keys_lock:
            for digest in [digest for digest, entry in _known_keys.items() if entry.client.pk == client_id]:
                del _known_keys[digest]
            for digest in digests:
                _known_keys.pop(digest, None)

    forget()
    transaction.on_commit(forget)


@receiver([post_save, post_delete], sender=ApiClient, dispatch_uid="mintguard_forget_api_client")
def _forget_saved_client(sender, instance, **kwargs) -> None:
    # Any write through the model (admin, rotation, a new client reusing a key) counts at once here.
    forget_api_client(instance.pk, instance.key_hash)


def _client_for_key(digest: str, now) -> ApiClient | None:
    """The active client this key digest authenticates, from memory while it is fresh."""
    entry = _known_keys.get(digest)
    if entry is None or entry.until < time.monotonic():
        entry = _look_up(digest)
    if entry is None or (entry.by_previous_key and not entry.client.previous_key_valid(now)):
        return None
    return entry.client


def _look_up(digest: str) -> _Remembered | None:
    """Read the key's client from the database and remember it (or forget the key if it is gone)."""
    # get(), not first(): key_hash is unique, and building first()'s ORDER BY is a quarter of the query's cost.
    try:
        client, by_previous_key = ApiClient.objects.get(key_hash=digest, is_active=True), False
    except ApiClient.DoesNotExist:
        # The key a rotation replaced, during its grace period: a second query only for it.
        client, by_previous_key = ApiClient.objects.filter(previous_key_hash=digest, is_active=True).first(), True
    seconds = settings.MINTGUARD_API_KEY_CACHE_SECONDS
    entry = _Remembered(client, by_previous_key, time.monotonic() + seconds) if client is not None else None
    with _known_keys_lock:
        if entry is not None and seconds > 0:
            _known_keys[digest] = entry
        else:
            _known_keys.pop(digest, None)
    return entry


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or len(key) > 200:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api-key>'.")
        now = timezone.now()
        client = _client_for_key(hash_api_key(key), now)
        if client is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_GRANULARITY:
            # .update(), not save(): no signal, so the remembered client stays, now up to date.
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
        return client, client

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class ScopeDenied(ApiError, exceptions.PermissionDenied):
    """Also DRF's PermissionDenied, so the browsable API treats it as a refusal, not a crash."""

    status, code, title = 403, "scope_denied", "Outside the API key's scopes"


def scoped(view_class, scope: Scope, **initkwargs):
    """Return the view of `view_class` for a URL pattern: API keys need `scope` to call it.

    The scope rides on the view function the URL resolves to, where the permission and the test
    over every route read it.
    """
    view = view_class.as_view(**initkwargs)
    view.required_scope = Scope(scope)
    return view


def required_scope(request) -> Scope | None:
    """The scope the requested route declares, or None if it declares none."""
    match = request.resolver_match
    return getattr(match.func, "required_scope", None) if match else None


class IsApiClientOrOperator(permissions.BasePermission):
    """API clients may use the routes within their key's scopes; operators need Django permissions.

    A route that declares no scope is closed to API clients (403 `scope_denied`), so a route added
    without one fails closed. Scopes do not apply to operators.

    Reading needs a dashboard role (view permission on ledger accounts). A write needs the
    permission the view names in `operator_permission` (refunds: `payments.refund_order`);
    writes that are a client's own business (deposits, transfers, payments) are superuser-only.
    """

    message = "API clients authenticate with a bearer key; operators need the permission for this action."

    def has_permission(self, request, view):
        user = request.user
        if isinstance(user, ApiClient):
            scope = required_scope(request)
            if scope is None:
                raise ScopeDenied("This route declares no scope, so no API key may call it.")
            if not user.has_scope(scope):
                raise ScopeDenied(f"This API key lacks the '{scope}' scope this route needs.")
            return True
        if not (user and user.is_authenticated and user.is_active):
            return False
        if request.method in permissions.SAFE_METHODS:
            return user.has_perm("ledger.view_account")
        required = getattr(view, "operator_permission", None)
        return user.is_superuser or (required is not None and user.has_perm(required))


def operator_owner(user) -> str:
    """The owner string of rows an operator creates, from the dashboard or the browsable API."""
    return f"{OPERATOR_OWNER_PREFIX}{user.pk}"


def request_owner(request) -> str:
    """The owner string that rows created by this request belong to."""
    if isinstance(request.user, ApiClient):
        return request.user.owner
    return operator_owner(request.user)


def visible_owner(request) -> str | None:
    """The owner whose rows this request may see, or None for operators (they see all)."""
    return request.user.owner if isinstance(request.user, ApiClient) else None
