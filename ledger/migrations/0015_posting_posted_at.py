"""Every posting says when it counts: `posted_at`, for balances as of an instant (model invariant 11).

- The column is added empty, filled from each posting's transaction `created_at` (on PostgreSQL
  with the append-only trigger off for that one UPDATE), then made NOT NULL with `now()` as the
  database default for rows written by hand.
- The index (account, bucket, posted_at, entry_number) finds "the last posting of a bucket at or
  before T" in one probe: a balance as of T is one probe per bucket, whatever the history's length.
- `ledger_post` writes `posted_at` itself: the `clock_timestamp()` it already reads after taking the
  bucket locks and gives the transactions as `created_at` (v_now), so a posting and its transaction
  agree, and a later posting to the same bucket, which waits for our commit, reads a later time.
  The hold functions (0012, 0013) write no posting of their own: a capture posts through
  `ledger_post`. The text is 0010's functions with one replacement, as 0010 did to 0007's.

Existing rows were written by engines that also read the time after the locks (0006 and 0007's
step 6, the ORM engine's `now`), so the backfilled column already follows entry numbers.
"""

from importlib import import_module

from django.db import migrations, models
from django.db.models.functions import Now
from django.utils import timezone

posting_function = import_module("ledger.migrations.0006_posting_function")
by_index = import_module("ledger.migrations.0007_posting_function_by_index")
with_holds = import_module("ledger.migrations.0010_posting_function_holds")

# 0010's functions, without its one-off ALTER TYPE.
HOLD_FUNCTIONS = with_holds._with_holds(by_index.FORWARD)

REPLACEMENTS = [
    (
        """        INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                                    balance_after)
        SELECT l.transaction_id, l.account_id, l.direction, l.amount, l.currency, l.bucket, l.entry_number,
               l.balance_after
""",
        """        INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                                    balance_after, posted_at)
        SELECT l.transaction_id, l.account_id, l.direction, l.amount, l.currency, l.bucket, l.entry_number,
               l.balance_after, v_now
""",
    ),
]


def _with_posted_at(sql: str) -> str:
    for old, new in REPLACEMENTS:
        if sql.count(old) != 1:
            raise ValueError(f"0015: expected one occurrence of {old!r} in 0010's functions")
        sql = sql.replace(old, new)
    return sql


FORWARD = _with_posted_at(HOLD_FUNCTIONS)
BACKWARD = HOLD_FUNCTIONS


def backfill_posted_at(apps, schema_editor):
    """Give every existing posting its transaction's time."""
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            # Postings are append-only (0002): this one UPDATE is the migration's, not a correction.
            cursor.execute("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_append_only")
            cursor.execute(
                "UPDATE ledger_posting p SET posted_at = t.created_at FROM ledger_transaction t "
                "WHERE t.id = p.transaction_id"
            )
            cursor.execute("ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_append_only")
        else:
            cursor.execute(
                "UPDATE ledger_posting SET posted_at = (SELECT t.created_at FROM ledger_transaction t "
                "WHERE t.id = ledger_posting.transaction_id)"
            )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0014_transaction_reversal")]

    operations = [
        migrations.AddField(model_name="posting", name="posted_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(backfill_posted_at, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="posting", name="posted_at",
            field=models.DateTimeField(default=timezone.now, db_default=Now()),
        ),
        migrations.AddIndex(
            model_name="posting",
            index=models.Index(fields=["account", "bucket", "posted_at", "entry_number"], name="ledger_posting_as_of"),
        ),
        migrations.RunPython(
            posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD), elidable=False
        ),
    ]
