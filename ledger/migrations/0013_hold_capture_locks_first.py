"""`ledger_hold_capture` locks the balance rows before it reads the clock, and refuses as data.

Found by tests/ledger/test_hold_concurrency.py: 0012 checked a hold's expiry under the hold's lock
only, so a withdrawal that took the source's balance row after the hold expired (and rightly
ignored it) could spend the money while the capture queued for that row; the capture's posting was
then refused and 0012 raised (a 500) where the answer is `hold_expired`. Now the capture locks the
source's and destination's buckets (in (account, bucket) order, as every posting) right after the
hold, then checks expiry: whoever holds the rows first decides, and the other sees the outcome.
A posting refusal that can still happen (the destination passing the balance limit) gives the
hold back and returns the refusal as a row, as `ledger_post` does, so the caller's transaction
stays usable.
"""

from importlib import import_module

from django.db import migrations

posting_function = import_module("ledger.migrations.0006_posting_function")
hold_functions = import_module("ledger.migrations.0012_hold_functions")

REPLACEMENTS = [
    (
        """    SELECT * INTO v_destination FROM ledger_account WHERE id = v_hold.destination_account_id;
    v_amount := coalesce(p_amount, v_hold.amount);
""",
        """    SELECT * INTO v_destination FROM ledger_account WHERE id = v_hold.destination_account_id;
    -- The balance rows before the clock: a debit that holds them decided with the clock first.
    PERFORM 1 FROM ledger_balancebucket b
      WHERE (b.account_id = v_source.id AND b.bucket = 0)
         OR (b.account_id = v_destination.id
             AND b.bucket = CASE WHEN v_destination.is_system THEN p_bucket ELSE 0 END)
      ORDER BY b.account_id, b.bucket
        FOR UPDATE;
    v_amount := coalesce(p_amount, v_hold.amount);
""",
    ),
    (
        """        IF v_row.refusal IS NOT NULL THEN
            -- The hold reserved this money under the same lock every debit takes: unreachable.
            RAISE EXCEPTION 'ledger_hold_capture: the posting of hold % was refused: % %',
                p_hold, v_row.refusal, v_row.detail;
        END IF;
""",
        """        IF v_row.refusal IS NOT NULL THEN
            -- The destination would pass the balance limit: the hold stays as it was.
            UPDATE ledger_hold SET status = 'HELD', captured_amount = 0, finished_at = NULL WHERE id = p_hold;
            RETURN NEXT v_row;
            RETURN;
        END IF;
""",
    ),
]


def _locking_first(sql: str) -> str:
    for old, new in REPLACEMENTS:
        if sql.count(old) != 1:
            raise ValueError(f"0013: expected one occurrence of {old!r} in 0012's functions")
        sql = sql.replace(old, new)
    return sql


FORWARD = _locking_first(hold_functions.FORWARD)
BACKWARD = hold_functions.FORWARD


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_hold_functions")]

    operations = [
        migrations.RunPython(
            posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD), elidable=False
        )
    ]
