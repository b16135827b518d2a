"""The posting engine on PostgreSQL: one call to `ledger_post` (migrations 0006, 0007, 0010), one round trip;
holds likewise, `ledger_hold_create` and `ledger_hold_capture` (migration 0012).

The function locks, checks, writes and returns every posted leg with its account; a refusal comes
back as one row naming the domain error, with the caller's transaction still usable.
"""

import json
from uuid import UUID

from django.db import DatabaseError, connections
from django.utils.dateparse import parse_datetime

from .models import Hold, ReferenceNamespace, Transaction
from .posting import (
    NewTransaction,
    PostedLeg,
    PostingRequest,
    SystemAccountsMissing,
    concurrent_reference_conflict,
    refusal_error,
    transactions_from_legs,
)

# SQLSTATE of ledger_post's one exception: a twin took part of a batch's references mid-call.
REFERENCE_TAKEN = "MG001"

_CALL = (
    "SELECT * FROM ledger_post(%s, %s, %s, %s, %s::text[], %s::text[], %s::text[], %s::text[], %s::integer[], "
    "%s::uuid[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::integer[])"
)


def post(request: PostingRequest, *, db: str) -> list[tuple[Transaction, bool]]:
    """Post the request's transactions all-or-nothing; return each with whether it was posted before."""
    entries = request.entries
    params = [
        request.owner, request.namespace, request.accounts_owner, request.refuse_managed,
        [entry.reference for entry in entries], [entry.kind for entry in entries],
        [entry.description for entry in entries], [json.dumps(entry.metadata or {}) for entry in entries],
        request.leg_entries, request.leg_accounts, request.leg_systems, request.leg_currencies,
        request.leg_directions, request.leg_amounts, request.leg_buckets,
    ]
    try:
        with connections[db].cursor() as cursor:
            cursor.execute(_CALL, params)
            rows = cursor.fetchall()
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == REFERENCE_TAKEN:
            raise concurrent_reference_conflict() from exc
        raise
    refusal = rows[0][0]
    # Django has psycopg load jsonb as text (JSONField parses it): so do we.
    detail = json.loads(rows[0][1]) if refusal is not None else None
    if refusal == "system_accounts_missing":
        raise SystemAccountsMissing(detail["currencies"])
    if refusal is not None:
        raise refusal_error(refusal, detail, request)
    return transactions_from_legs(request, (PostedLeg._make(row[2:]) for row in rows), db=db)


_HOLD_CREATE = "SELECT * FROM ledger_hold_create(%s, %s, %s, %s, %s, %s, %s, %s)"
_HOLD_CAPTURE = "SELECT * FROM ledger_hold_capture(%s, %s, %s, %s, %s, %s, %s)"


def hold_create(
    *, owner: str, accounts_owner: str | None, refuse_managed: bool, source_id: UUID, destination_id: UUID,
    amount: int, expires_in: int, description: str, db: str,
) -> tuple[str | None, dict | None, Hold | None]:
    """Reserve with `ledger_hold_create` (migration 0012): (refusal, detail, None) or (None, None, hold)."""
    with connections[db].cursor() as cursor:
        cursor.execute(_HOLD_CREATE, [owner, accounts_owner, refuse_managed, source_id, destination_id, amount,
                                      expires_in, description])
        refusal, detail, hold = cursor.fetchone()
    if refusal is not None:
        return refusal, json.loads(detail), None
    return None, None, _hold_of(json.loads(hold), db)


def hold_capture(
    *, hold_id: UUID, owner: str | None, refuse_managed: bool, amount: int | None, kind: str,
    metadata: dict | None, bucket: int, db: str,
) -> tuple[str | None, dict | None, Hold | None, Transaction | None]:
    """Capture with `ledger_hold_capture` (migration 0012): (refusal, detail, None, None) or the
    captured hold and its transaction, built from what the function returned."""
    with connections[db].cursor() as cursor:
        cursor.execute(_HOLD_CAPTURE, [hold_id, owner, refuse_managed, amount, kind, json.dumps(metadata or {}),
                                       bucket])
        rows = cursor.fetchall()
    if rows[0][0] is not None:
        return rows[0][0], json.loads(rows[0][1]), None, None
    hold = _hold_of(json.loads(rows[0][1]), db)  # every leg carries the captured hold in `detail`
    entry = NewTransaction(reference=hold.capture_reference, kind=kind, legs=(), description=hold.description,
                           metadata=metadata)
    request = PostingRequest(owner=hold.owner, namespace=ReferenceNamespace.SYSTEM, entries=[entry],
                             accounts_owner=None, refuse_managed=False, leg_entries=[], leg_accounts=[],
                             leg_systems=[], leg_currencies=[], leg_directions=[], leg_amounts=[], leg_buckets=[])
    posted = transactions_from_legs(request, (PostedLeg._make(row[2:]) for row in rows), db=db)
    return None, None, hold, posted[0][0]


def _hold_of(row: dict, db: str) -> Hold:
    """A Hold from the JSON of its row, as the database wrote it."""
    hold = Hold(
        id=UUID(row["id"]), owner=row["owner"], source_account_id=UUID(row["source_account_id"]),
        destination_account_id=UUID(row["destination_account_id"]), amount=row["amount"],
        captured_amount=row["captured_amount"], currency=row["currency"], status=row["status"],
        description=row["description"], expires_at=parse_datetime(row["expires_at"]),
        created_at=parse_datetime(row["created_at"]),
        finished_at=parse_datetime(row["finished_at"]) if row["finished_at"] else None,
    )
    hold._state.adding, hold._state.db = False, db
    return hold
