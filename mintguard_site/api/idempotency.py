"""Idempotency-Key handling, built once and put on a route with one decorator.

Semantics (IETF Idempotency-Key draft, Stripe's): a key is unique per (owner, key). A repeat with
the same fingerprint (method, path, body) replays the stored answer byte for byte with
`Idempotent-Replayed: true`; another body is 409 `idempotency_key_reused`; a repeat while the first
request may still run is 409 `idempotency_key_in_use` (Retry-After: 1). 2xx answers and business
409s are stored; requests the handler refused as invalid (400/404/422...) and 5xx store nothing,
so a corrected retry runs afresh.

Two protocols, both in raw SQL (no ORM query is compiled on this path):

- Atomic routes (the default: the handler only writes our database). The key is reserved, the
  money moves and the answer is stored in ONE transaction: one statement inserts the key's row or,
  when (owner, key) exists, returns the stored row; the handler runs; one UPDATE stores its answer.
  A concurrent twin's INSERT waits on the unique index until the first request commits (then it
  finds the stored answer and replays it) or rolls back (then it runs itself). A refusal rolls
  back everything, the key included; a business 409 (the ledger may have aborted the transaction)
  is then stored on its own, and a twin that stored first wins.
- Lease routes (`atomic=False`: pay and checkout, which call the payment provider and commit a
  recovery point of their own). The key is reserved in its own statement with a lease
  (`locked_until`) and a random lease token; the answer is stored at the end, only while the token
  still matches. A request that died leaves its row leased; once the lease has passed a retry
  takes the key over and resumes (the payment services make that safe).
"""

import contextlib
import functools
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, QueryDict
from django.utils import timezone

from mintguard_site import observability
from mintguard_site.db import riders

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
IN_PROGRESS, COMPLETED = IdempotencyKey.State.IN_PROGRESS.value, IdempotencyKey.State.COMPLETED.value


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


class _Refused(Exception):
    """The handler answered with an error status: roll its writes back, keep its answer."""

    def __init__(self, response):
        self.response = response


@dataclass(frozen=True)
class Lease:
    row_id: int
    token: uuid.UUID


@dataclass(frozen=True)
class StoredKey:
    """A key's row as another request left it."""

    row_id: int
    key: str
    fingerprint: str
    method: str
    path: str
    state: str
    leased: bool  # in progress under a lease that has not run out
    response_status: int | None
    response_content_type: str
    response_body: bytes | None

    @classmethod
    def from_row(cls, row) -> "StoredKey":
        *fields, leased, status, content_type, body = row
        return cls(*fields, bool(leased), status, content_type, None if body is None else bytes(body))


def valid_key(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in value)


def fingerprint(request) -> str:
    """Method + actual path + canonical JSON body (the form every stored fingerprint was made in)."""
    data = request.data
    if isinstance(data, QueryDict):
        data = {key: data.getlist(key) for key in sorted(data)}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


# --- The SQL: written once for both databases (SQLite >= 3.35 has ON CONFLICT and RETURNING) ---------

_INSERT = (
    'INSERT INTO api_idempotencykey (owner, "key", fingerprint, method, path, state, lease_token, locked_until, '
    "response_status, response_content_type, response_body, created_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    'ON CONFLICT (owner, "key") DO NOTHING RETURNING id'
)
_STORED_COLUMNS = ('id, "key", fingerprint, method, path, state, locked_until > %s, response_status, '
                   "response_content_type, response_body")  # `leased` computed by the database
# Composed of constants only, never of input (values travel as parameters).
_FIND = f'SELECT {_STORED_COLUMNS} FROM api_idempotencykey WHERE owner = %s AND "key" = %s'  # noqa: S608  # nosec B608
# PostgreSQL: reserve or find in one statement. The SELECT sees the statement's snapshot, so it
# finds a row committed before the statement began; a twin that commits while the INSERT waits
# on it is found by a second SELECT.
_INSERT_OR_FIND = (
    f"WITH reserved AS ({_INSERT}) SELECT true, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "  # noqa: S608  # nosec B608
    f"FROM reserved UNION ALL SELECT false, {_FIND.removeprefix('SELECT ')}"
)
_STORE = (
    "UPDATE api_idempotencykey SET state = %s, response_status = %s, response_content_type = %s, "
    "response_body = %s, lease_token = NULL, locked_until = NULL WHERE id = %s AND state = %s"
)
_TAKE_OVER = (
    "UPDATE api_idempotencykey SET lease_token = %s, locked_until = %s "
    "WHERE id = %s AND state = %s AND (locked_until IS NULL OR locked_until <= %s)"
)
_RELEASE = "DELETE FROM api_idempotencykey WHERE id = %s AND lease_token = %s"


def _db_time(value: datetime):  # SQLite keeps datetimes and UUIDs as text
    return connection.ops.adapt_datetimefield_value(value)


def _db_uuid(value: uuid.UUID | None):
    return IdempotencyKey._meta.get_field("lease_token").get_db_prep_value(value, connection)


def _lease_columns(lease: Lease | None, now: datetime) -> tuple:
    """(lease_token, locked_until) of a row reserved under `lease`, or of one with no lease."""
    return (None, None) if lease is None else (_db_uuid(lease.token), _db_time(now + LEASE))


def _row_values(*, owner: str, key: str, request_print: str, request, now: datetime, state: str,
                lease: Lease | None = None, response=None) -> tuple:
    status, content_type, body = (None, "", None) if response is None else _answer_of(response)
    token, locked_until = _lease_columns(lease, now)
    expires_at = now + timedelta(seconds=settings.MINTGUARD_IDEMPOTENCY_TTL)
    return (owner, key, request_print, request.method, request.path[:512], state, token, locked_until,
            status, content_type, body, _db_time(now), _db_time(expires_at))


def _answer_of(response) -> tuple[int, str, bytes]:
    return response.status_code, response.get("Content-Type", "application/json"), bytes(response.content)


def _find(owner: str, key: str, now: datetime) -> StoredKey | None:
    with connection.cursor() as cursor:
        cursor.execute(_FIND, (_db_time(now), owner, key))
        row = cursor.fetchone()
    return StoredKey.from_row(row) if row else None


def _insert_or_find(values: tuple, *, owner: str, key: str, now: datetime) -> int | StoredKey | None:
    """Insert the key's row unless (owner, key) is taken: the new row's id, else the row that holds
    the key (None: it went away in between, released or purged)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_INSERT_OR_FIND, (*values, _db_time(now), owner, key))
            row = cursor.fetchone()
            if row is not None:
                return row[1] if row[0] else StoredKey.from_row(row[1:])
        else:
            cursor.execute(_INSERT, values)
            row = cursor.fetchone()
            if row is not None:
                return row[0]
    return _find(owner, key, now)


def _store(row_id: int, response, *, token: uuid.UUID | None = None) -> bool:
    """Store the answer on the key's row (a lease route: only while `token` still holds the lease)."""
    sql, params = _STORE, [COMPLETED, *_answer_of(response), row_id, IN_PROGRESS]
    if token is not None:
        sql, params = f"{sql} AND lease_token = %s", [*params, _db_uuid(token)]
    with connection.cursor() as cursor:
        cursor.execute(*riders.carried(connection, sql, params))
        return cursor.rowcount == 1


def _take_over(row_id: int, now: datetime, lease: Lease | None) -> bool:
    """Take over the row of a request that died, once its lease has run out (None: no new lease)."""
    token, locked_until = _lease_columns(lease, now)
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_OVER, (token, locked_until, row_id, IN_PROGRESS, _db_time(now)))
        return cursor.rowcount == 1


def _release(lease: Lease) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE, (lease.row_id, _db_uuid(lease.token)))
    except Exception:  # the database may be what failed; the lease will expire instead
        logger.exception("could not release idempotency key %s", lease.row_id)


# --- Answers ------------------------------------------------------------------------------------------

def _replay(row: StoredKey) -> HttpResponse:
    response = HttpResponse(row.response_body, status=row.response_status, content_type=row.response_content_type)
    response[REPLAYED_HEADER] = "true"
    observability.record_idempotent_replay()
    logger.info("idempotent replay", extra={"idempotency_key": row.key, "status": row.response_status})
    return response


def _answer_twin(row: StoredKey, request_print: str) -> HttpResponse | None:
    """The answer a request gets when its key is taken: a replay, or a 409 raised. None: the row is
    a dead request's, its lease run out, and may be taken over."""
    if row.fingerprint != request_print:
        raise IdempotencyKeyReused(f"Key {row.key!r} was first used for {row.method} {row.path} with another body.")
    if row.state == COMPLETED:
        return _replay(row)
    if row.leased:
        raise IdempotencyKeyInUse()
    return None


def _is_stored_conflict(response) -> bool:
    data = getattr(response, "data", None)
    code = data.get("code") if isinstance(data, dict) else None
    return response.status_code in STORED_ERROR_STATUSES and code not in TRANSIENT_CONFLICT_CODES


def _render(view, request, response, args, kwargs):
    response = view.finalize_response(request, response, *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    return response


def _key_of(request, *, required: bool, body_key: str | None) -> str | None:
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")  # not request.headers: that copies every header
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
    `atomic`: the view's writes run in one transaction with the key and its stored response. Routes
    that call the payment provider pass False: they commit a recovery point (the payment attempt)
    in their own transaction, call the provider with no transaction open, and must be resumable
    from that point; their key is leased, and the response stored once they finish.
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
            call = (view, request, args, kwargs)
            try:
                if atomic:
                    return _run_atomic(method, call, owner=request_owner(request), key=key)
                reservation = reserve(owner=request_owner(request), key=key, request=request)
                if isinstance(reservation, HttpResponse):
                    return reservation
                return _run_leased(reservation, method, call)
            except (IdempotencyKeyReused, IdempotencyKeyInUse) as conflict:
                observability.record_idempotency_conflict(conflict.code)
                raise

        return wrapper

    return decorator


# --- Atomic routes: key, money and answer in one transaction -------------------------------------------

def _run_atomic(method, call, *, owner: str, key: str):
    view, request, args, kwargs = call
    request_print = fingerprint(request)
    try:
        # Writes that need no answer (the outbox's) ride in front of the statement that stores the answer.
        with transaction.atomic(), riders.carrying(connection):
            reserved = _reserve_row(owner=owner, key=key, request=request, request_print=request_print, lease=None)
            if isinstance(reserved, HttpResponse):
                return reserved  # a replay: nothing was written
            response = _render(view, request, method(view, request, *args, **kwargs), args, kwargs)
            if response.status_code >= 400:
                raise _Refused(response)  # roll the handler's writes and the key back, keep its answer
            _store(reserved, response)
        return response
    except (IdempotencyKeyReused, IdempotencyKeyInUse):
        raise
    except _Refused as refused:
        response = refused.response
    except Exception as exc:
        response = _render(view, request, view.handle_exception(exc), args, kwargs)
    if not _is_stored_conflict(response):
        return response  # forgotten with the rollback: a corrected retry runs afresh
    # A business conflict is the key's answer: store it on its own (the ledger may have aborted the
    # request's transaction). A twin that ran and stored in the meantime has the key's answer.
    now = timezone.now()
    values = _row_values(owner=owner, key=key, request_print=request_print, request=request, now=now,
                         state=COMPLETED, response=response)
    stored = _insert_or_find(values, owner=owner, key=key, now=now)
    if isinstance(stored, StoredKey):
        return _answer_twin(stored, request_print) or response
    return response


def _reserve_row(*, owner: str, key: str, request, request_print: str, lease: Lease | None) -> int | HttpResponse:
    """Reserve the key (under `lease` on lease routes): its row id, or the answer a twin earned.

    A row whose lease ran out (its request died with the key) is taken over.
    """
    for _ in range(3):
        now = timezone.now()
        values = _row_values(owner=owner, key=key, request_print=request_print, request=request, now=now,
                             state=IN_PROGRESS, lease=lease)
        found = _insert_or_find(values, owner=owner, key=key, now=now)
        if isinstance(found, int):
            return found
        if found is None:
            continue  # released or purged in between: try again
        answer = _answer_twin(found, request_print)
        if answer is not None:
            return answer
        if _take_over(found.row_id, now, lease):
            return found.row_id
    raise IdempotencyKeyInUse()


# --- Lease routes: they call the provider between transactions of their own ---------------------------

def reserve(*, owner: str, key: str, request) -> Lease | HttpResponse:
    """Reserve the key under a lease, in its own statement, or return the answer a twin already earned."""
    lease = Lease(0, uuid.uuid4())
    reserved = _reserve_row(owner=owner, key=key, request=request, request_print=fingerprint(request), lease=lease)
    return reserved if isinstance(reserved, HttpResponse) else Lease(reserved, lease.token)


def _run_leased(lease: Lease, method, call):
    view, request, args, kwargs = call
    try:
        response = _render(view, request, method(view, request, *args, **kwargs), args, kwargs)
    except Exception as exc:
        try:
            response = _render(view, request, view.handle_exception(exc), args, kwargs)
        except Exception:
            _release(lease)
            raise
    if response.status_code < 400 or _is_stored_conflict(response):
        if _store(lease.row_id, response, token=lease.token):
            return response
        raise IdempotencyKeyInUse("This request's lease expired and a retry took the key over.")
    _release(lease)  # refused as invalid: a corrected retry runs
    return response
