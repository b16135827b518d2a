"""Idempotency-Key handling, built once and put on a route with one decorator.

The protocol (IETF Idempotency-Key draft, Stripe's semantics):

1. Reserve: the key is inserted for (owner, key) in its own short transaction with a lease
   (`locked_until`) and a random lease token. A concurrent twin hits the unique constraint and
   reads the row instead: same fingerprint and finished -> replay; still leased -> 409
   `idempotency_key_in_use`; other fingerprint -> 409 `idempotency_key_reused`.
2. Execute: the handler's writes (the money movement) and the stored response commit in ONE
   transaction, and only while we still hold the lease token. A crash mid-way commits nothing
   but the reservation, so once the lease has passed a retry takes the key over and runs afresh.
3. Outcomes: 2xx and 409 (business conflicts) are stored and replayed byte-for-byte with
   `Idempotent-Replayed: true`. Requests the handler refused as invalid (400/404/422...) and 5xx
   store nothing: the key is released, so a corrected retry runs (like Stripe).
"""

import contextlib
import functools
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, QueryDict
from django.utils import timezone

from mintguard_site import observability

from .auth import request_owner
from .errors import ApiError
from .models import IdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
# Outcomes worth replaying: the request ran and the world is in the state its answer describes.
STORED_ERROR_STATUSES = frozenset({409})
# A 409 that only says a concurrent change won a race: transient, so a retry must run afresh.
TRANSIENT_CONFLICT_CODES = frozenset({"conflict"})


class IdempotencyKeyMissing(ApiError):
    code, title = "idempotency_key_missing", "Idempotency-Key header required"


class IdempotencyKeyInvalid(ApiError):
    code, title = "idempotency_key_invalid", "Invalid Idempotency-Key"


class IdempotencyKeyReused(ApiError):
    status, code, title = 409, "idempotency_key_reused", "Idempotency-Key reused with a different request"


class IdempotencyKeyInUse(ApiError):
    status, code, title = 409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress"

    def __init__(self, detail: str = "The first request with this key is still running; retry shortly."):
        super().__init__(detail, headers={"Retry-After": "1"})


class _LeaseLost(Exception):
    """Our lease expired and another request took the key over: roll our work back."""


class _Refused(Exception):
    """The handler answered with an error status: roll its writes back, keep its answer."""

    def __init__(self, response):
        self.response = response


@dataclass(frozen=True)
class Lease:
    row_id: int
    token: uuid.UUID


def valid_key(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in value)


def fingerprint(request) -> str:
    """Method + actual path + canonical JSON body."""
    data = request.data
    if isinstance(data, QueryDict):
        data = {key: data.getlist(key) for key in sorted(data)}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=settings.MINTGUARD_IDEMPOTENCY_TTL)


def _replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(row.response_body), status=row.response_status,
                            content_type=row.response_content_type)
    response[REPLAYED_HEADER] = "true"
    observability.record_idempotent_replay()
    logger.info("idempotent replay", extra={"idempotency_key": row.key, "status": row.response_status})
    return response


def _own_statement():
    """One INSERT commits by itself in autocommit mode; inside a caller's transaction
    (tests, a wrapping atomic) a savepoint keeps a unique violation from breaking it."""
    return transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()


def reserve(*, owner: str, key: str, request) -> Lease | HttpResponse:
    """Reserve the key for this request, or return the answer a twin already earned."""
    request_print = fingerprint(request)
    for _ in range(3):
        now = timezone.now()
        token = uuid.uuid4()
        try:
            with _own_statement():
                row = IdempotencyKey.objects.create(
                    owner=owner, key=key, fingerprint=request_print, method=request.method, path=request.path[:512],
                    lease_token=token, locked_until=now + LEASE, created_at=now, expires_at=now + _ttl(),
                )
            return Lease(row.pk, token)
        except IntegrityError:
            pass  # a twin holds the key: look at it
        try:  # get(), not first(): (owner, key) is unique, so no ORDER BY to build
            row = IdempotencyKey.objects.get(owner=owner, key=key)
        except IdempotencyKey.DoesNotExist:
            continue  # released or purged in between: try to reserve again
        if row.fingerprint != request_print:
            raise IdempotencyKeyReused(
                f"Key {key!r} was first used for {row.method} {row.path} with another body."
            )
        if row.state == IdempotencyKey.State.COMPLETED:
            return _replay(row)
        if row.locked_until and row.locked_until > now:
            raise IdempotencyKeyInUse()
        # The first request died and its lease ran out: take the key over and run afresh.
        taken = IdempotencyKey.objects.filter(
            pk=row.pk, state=IdempotencyKey.State.IN_PROGRESS, lease_token=row.lease_token
        ).update(lease_token=token, locked_until=now + LEASE)
        if taken:
            return Lease(row.pk, token)
    raise IdempotencyKeyInUse()


def _store(lease: Lease, response) -> bool:
    return bool(
        IdempotencyKey.objects.filter(
            pk=lease.row_id, lease_token=lease.token, state=IdempotencyKey.State.IN_PROGRESS
        ).update(
            state=IdempotencyKey.State.COMPLETED,
            response_status=response.status_code,
            response_content_type=response.get("Content-Type", "application/json"),
            response_body=bytes(response.content),
            lease_token=None,
            locked_until=None,
        )
    )


def _release(lease: Lease) -> None:
    try:
        IdempotencyKey.objects.filter(pk=lease.row_id, lease_token=lease.token).delete()
    except Exception:  # the database may be what failed; the lease will expire instead
        logger.exception("could not release idempotency key %s", lease.row_id)


def _render(view, request, response, args, kwargs):
    response = view.finalize_response(request, response, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    return response


def _key_of(request, *, required: bool, body_key: str | None) -> str | None:
    key = request.headers.get(HEADER)
    if key is None and body_key is not None and isinstance(request.data, dict):
        candidate = request.data.get(body_key)
        return candidate if valid_key(candidate) else None
    if key is None:
        if required:
            raise IdempotencyKeyMissing(f"Send an {HEADER} header (1-255 printable ASCII characters).")
        return None
    if not valid_key(key):
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1-255 printable ASCII characters.")
    return key


def idempotent(*, required: bool = True, body_key: str | None = None, atomic: bool = True):
    """Make an APIView method idempotent under the request's Idempotency-Key.

    `required`: a missing header is 400 idempotency_key_missing (money-moving routes).
    `body_key`: without the header, this body field (e.g. `reference_id`) is the key.
    `atomic`: the view's writes run in one transaction with the stored response. Routes that
    call the payment provider pass False: they commit a recovery point (the payment attempt) in
    their own transaction, call the provider with no transaction open, and must be resumable
    from that point; the response is stored once they finish.
    The view reads the key as `request.idempotency_key` (None when the route ran without one).
    """

    def decorator(method):
        @functools.wraps(method)
        def wrapper(view, request, *args, **kwargs):
            key = _key_of(request, required=required, body_key=body_key)
            request.idempotency_key = key
            if key is None:
                with transaction.atomic() if atomic else contextlib.nullcontext():
                    return method(view, request, *args, **kwargs)
            try:
                reservation = reserve(owner=request_owner(request), key=key, request=request)
                if isinstance(reservation, HttpResponse):
                    return reservation
                return _execute(reservation, method, view, request, args, kwargs, atomic)
            except (IdempotencyKeyReused, IdempotencyKeyInUse) as conflict:
                observability.record_idempotency_conflict(conflict.code)
                raise

        return wrapper

    return decorator


def _execute(lease: Lease, method, view, request, args, kwargs, atomic: bool):
    work = transaction.atomic if atomic else contextlib.nullcontext
    try:
        with work():
            response = _render(view, request, method(view, request, *args, **kwargs), args, kwargs)
            if response.status_code >= 400:
                raise _Refused(response)  # roll the handler's writes back, keep its answer
            if not _store(lease, response):
                raise _LeaseLost()
        return response
    except _LeaseLost:
        raise IdempotencyKeyInUse("This request's lease expired and a retry took the key over.") from None
    except _Refused as refused:
        response = refused.response
    except Exception as exc:
        try:
            response = _render(view, request, view.handle_exception(exc), args, kwargs)
        except Exception:
            _release(lease)
            raise
    # The handler refused the request: remember business conflicts, forget the rest.
    data = getattr(response, "data", None)
    code = data.get("code") if isinstance(data, dict) else None
    if response.status_code in STORED_ERROR_STATUSES and code not in TRANSIENT_CONFLICT_CODES:
        if _store(lease, response):
            return response
        raise IdempotencyKeyInUse("This request's lease expired and a retry took the key over.")
    _release(lease)
    return response
