"""Hot-path statements in raw SQL: one round trip each, the same on SQLite and PostgreSQL.

The ORM compiles every query afresh, and on the pay path (payments) and the outbox write (events)
that compiling cost more than the database did. Here each statement is built once per model and
field list. Values go in through
each field's own conversion (`get_db_prep_save`) and rows come back through the backend's
converters, so what is written and read is exactly what the ORM would write and read.
"""

from functools import cache, lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _fields(model: type[Model], names: tuple[str, ...]) -> tuple[Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


@cache
def _select_list(model: type[Model]) -> str:
    # Qualified like the ORM's, so a statement reads (and is logged) as being about its table.
    table = _quote(model._meta.db_table)
    return ", ".join(f"{table}.{_quote(field.column)}" for field in model._meta.concrete_fields)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


# Keyed by the thread's connection: the backend's converters are bound to it.
@lru_cache(maxsize=64)
def _converters(model: type[Model], db) -> tuple:
    table = model._meta.db_table
    converters = []
    for position, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(table)
        functions = db.ops.get_db_converters(column) + column.get_db_converters(db)
        if functions:
            converters.append((position, column, tuple(functions)))
    return tuple(converters)


def _db_values(instance: Model, fields: tuple[Field, ...]) -> list:
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself: every field reads it, no proxy
    return [field.get_db_prep_save(getattr(instance, field.attname), db) for field in fields]


def _execute(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch(model: type[Model], condition: str, params: list) -> list:
    """Return the model's rows matching `condition` (the SQL after FROM <table>), as instances."""
    # Names come from the model's metadata and `condition` from our code; values only as parameters.
    sql = f"SELECT {_select_list(model)} FROM {_quote(model._meta.db_table)} {condition}"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    db = connections[DEFAULT_DB_ALIAS]
    converters = _converters(model, db)
    instances = []
    for row in rows:
        values = list(row)
        for position, column, functions in converters:
            for function in functions:
                values[position] = function(values[position], column, db)
        instances.append(model.from_db(DEFAULT_DB_ALIAS, _attnames(model), values))
    return instances


def db_value(model: type[Model], name: str, value):
    """Return `value` as the database stores the model's field `name` (a UUID is hex text on SQLite)."""
    return _fields(model, (name,))[0].get_db_prep_save(value, connection)


@cache
def _insert_sql(model: type[Model], names: tuple[str, ...], unique: str | None) -> str:
    columns = ", ".join(_quote(field.column) for field in _fields(model, names))
    placeholders = ", ".join(["%s"] * len(names))
    # Without a target, every unique constraint and unique index of the table counts.
    target = f"({_quote(model._meta.get_field(unique).column)}) " if unique else ""
    return (f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608  # nosec B608
            f"ON CONFLICT {target}DO NOTHING")


@cache
def _insert_head(model: type[Model]) -> str:
    columns = ", ".join(_quote(field.column) for field in model._meta.concrete_fields)
    return f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608  # nosec B608


@cache
def _row_placeholders(model: type[Model]) -> str:
    return f"({', '.join(['%s'] * len(model._meta.concrete_fields))})"


def insert_statement(instances: list[Model]) -> tuple[str, list]:
    """The INSERT of `instances`, all of one model (every column, a row each), and its parameters, unsent.

    Values are what a save would write (`pre_save` first: `auto_now_add` and the like), for a caller
    that sends the statement in one of its own (events/outbox.py: in front of another statement).
    """
    model, db = type(instances[0]), connections[DEFAULT_DB_ALIAS]
    fields = model._meta.concrete_fields
    params = [field.get_db_prep_save(field.pre_save(instance, True), db) for instance in instances for field in fields]
    return _insert_head(model) + ", ".join([_row_placeholders(model)] * len(instances)), params


def insert_unless_conflict(instance: Model, names: tuple[str, ...], *, unique: str | None = None) -> bool:
    """Insert the instance's `names` fields unless a row already holds its unique values; say whether it did.

    INSERT ... ON CONFLICT DO NOTHING, on the `unique` field alone or on every unique constraint:
    a concurrent twin is waited for on the unique index, never raised as an IntegrityError, so no
    savepoint is needed around it.
    """
    model = type(instance)
    inserted = _execute(_insert_sql(model, names, unique), _db_values(instance, _fields(model, names))) == 1
    if inserted:  # as Model.save() leaves it: a later save() updates the row
        instance._state.adding, instance._state.db = False, DEFAULT_DB_ALIAS
    return inserted


@cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{_quote(field.column)} = %s" for field in _fields(model, names))
    return (f"UPDATE {_quote(model._meta.db_table)} SET {assignments} "  # noqa: S608  # nosec B608
            f"WHERE {_quote(model._meta.pk.column)} = %s AND {_quote('status')} = %s")


def update_if_status(instance: Model, names: tuple[str, ...], *, status: str) -> bool:
    """Write the instance's `names` fields to its row only while the row's status is still `status`.

    A compare-and-set: say whether the row was as expected (and is now written). Where the status
    is the guard, this replaces lock, re-read and save with one statement.
    """
    model = type(instance)
    params = _db_values(instance, _fields(model, names))
    params += [model._meta.pk.get_db_prep_save(instance.pk, connection), status]
    return _execute(_update_sql(model, names), params) == 1
