"""Expect the database itself to refuse a write, naming the constraint that refused it."""

import contextlib
import re

import pytest
from django.db import IntegrityError, connection, models, transaction


def _refusal_pattern(model: type[models.Model], name: str) -> str:
    """What the database says when `name` refuses a row.

    PostgreSQL names every constraint; SQLite names a CHECK but reports a UNIQUE constraint by
    its columns ("UNIQUE constraint failed: t.a, t.b").
    """
    [constraint] = [c for c in model._meta.constraints if c.name == name]
    if connection.vendor == "sqlite" and isinstance(constraint, models.UniqueConstraint):
        table = model._meta.db_table
        columns = [model._meta.get_field(field).column for field in constraint.fields]
        return re.escape("UNIQUE constraint failed: " + ", ".join(f"{table}.{column}" for column in columns))
    return rf"\b{re.escape(name)}\b"


@contextlib.contextmanager
def refused_by(model: type[models.Model], name: str):
    """Assert that the block's writes fail with IntegrityError from `model`'s constraint `name`.

    The block runs in its own savepoint, so the test's transaction stays usable afterwards.
    """
    with pytest.raises(IntegrityError, match=_refusal_pattern(model, name)), transaction.atomic():
        yield


def constraints_without_a_test(*model_classes: type[models.Model], tests) -> list[str]:
    """The names of these models' constraints that no test in `tests` (names) is named after."""
    return [constraint.name for model in model_classes for constraint in model._meta.constraints
            if not any(test.startswith(f"test_{constraint.name}") for test in tests)]
