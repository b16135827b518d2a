"""The posting engine on PostgreSQL: one call to `ledger_post` (migrations 0006, 0007), one round trip.

The function locks, checks, writes and returns every posted leg with its account; a refusal comes
back as one row naming the domain error, with the caller's transaction still usable.
"""

import json

from django.db import DatabaseError, connections

from .models import Transaction
from .posting import (
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
