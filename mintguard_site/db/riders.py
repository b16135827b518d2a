"""Writes that ride in front of a later statement of their transaction (PostgreSQL).

Every round trip on the money path costs the web process and PostgreSQL CPU of their own
(measured on the transfer path: a transfer's event as a statement of its own cost over a quarter
of what events cost it). A write that needs no answer, like the outbox's rows, can travel instead
in front of a statement the request is sure to send later in the same transaction, as
data-modifying CTEs, which PostgreSQL runs to completion whether or not the statement reads them.
The idempotent API request is such a carrier: its last statement stores the response on its key's
row (`mintguard_site.api.idempotency`).

- `carrying(connection)`: the carrier's scope, opened inside its transaction. Writes ridden in it
  wait; any the carrier did not take are sent on their own when the scope ends without an error,
  so none is lost; an error drops them with the transaction they belonged to.
- `ride(connection, statements)`: a write (INSERT, UPDATE or DELETE statements without RETURNING),
  sent at once, as one statement, outside a carrying scope or on SQLite, and also once any
  savepoint was taken since the scope opened (by `transaction.atomic` or `transaction.savepoint`;
  a raw `SAVEPOINT` statement is not seen): a write made inside a savepoint rolled back later must
  go with it, so only writes made at the scope's own level wait.
- `carried(connection, sql, params)`: the carrier's statement with the waiting writes in front,
  unless a savepoint was taken since the scope opened (the carrier may be inside one that rolls
  back): then they wait for the end of the scope.
"""

import contextlib
from dataclasses import dataclass, field

Statement = tuple[str, list]

_SCOPE = "mintguard_riders"  # attribute of the connection (one per thread) holding the open scope


@dataclass
class _Scope:
    savepoint_state: int  # Django's count of savepoints taken on the connection, when the scope opened
    waiting: list[Statement] = field(default_factory=list)


@contextlib.contextmanager
def carrying(connection):
    """Let writes wait for a carrier statement until this scope ends (PostgreSQL; elsewhere nothing)."""
    if connection.vendor != "postgresql":
        yield
        return
    outer = getattr(connection, _SCOPE, None)
    scope = _Scope(savepoint_state=connection.savepoint_state)
    setattr(connection, _SCOPE, scope)
    try:
        yield
        if scope.waiting:  # the carrier never came: the writes go alone, still in the transaction
            _execute(connection, _joined(scope.waiting, None))
    finally:
        setattr(connection, _SCOPE, outer)


def ride(connection, statements: list[Statement]) -> None:
    """Send `statements` with the next carrier of the open scope, or now as one statement."""
    scope = getattr(connection, _SCOPE, None)
    if scope is None or connection.savepoint_state != scope.savepoint_state:
        _execute(connection, _joined(statements, None))
    else:
        scope.waiting.extend(statements)


def carried(connection, sql: str, params: list) -> Statement:
    """`sql` with the writes waiting in the open scope as CTEs in front of it (they are then sent)."""
    scope = getattr(connection, _SCOPE, None)
    if scope is None or not scope.waiting or connection.savepoint_state != scope.savepoint_state:
        return sql, params
    waiting, scope.waiting = scope.waiting, []
    return _joined(waiting, (sql, params))


def _joined(writes: list[Statement], carrier: Statement | None) -> Statement:
    """One statement: every write a CTE in front of `carrier`, or of the last write when there is none."""
    if carrier is None:
        *writes, carrier = writes
    if not writes:
        return carrier
    ctes = ", ".join(f"ridden_{number} AS ({sql})" for number, (sql, _) in enumerate(writes))
    params = [param for _, write_params in writes for param in write_params]
    return f"WITH {ctes} {carrier[0]}", [*params, *carrier[1]]


def _execute(connection, statement: Statement) -> None:
    with connection.cursor() as cursor:
        cursor.execute(*statement)
