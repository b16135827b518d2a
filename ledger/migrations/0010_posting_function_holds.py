"""The posting function checks `available`, not the balance (PostgreSQL only).

0007's functions with holds (model invariant 9): under the bucket locks `ledger_post` now reads
each bucket's `held` too and, where it is not 0, sums the account's active holds (HELD, expiring
after `clock_timestamp()`) by the partial index `ledger_hold_held_by_account`; a debit may not take
balance minus that below 0, and the refusal's `available` figure is that. Every posted leg also
returns its customer account's `available` after the call (`ledger_posted_leg.account_available`),
so a response shows it without reading back.

The text is 0007's, changed by the replacements below, each of which must apply exactly once:
the function is long, and one copy of it in the history is easier to review than two.
"""

from importlib import import_module

from django.db import migrations

posting_function = import_module("ledger.migrations.0006_posting_function")
by_index = import_module("ledger.migrations.0007_posting_function_by_index")

ACTIVE_HELD = (
    "coalesce((SELECT sum(h.amount) FROM ledger_hold h WHERE h.source_account_id = {account} "
    "AND h.status = 'HELD' AND h.expires_at > clock_timestamp()), 0)::bigint"
)

REPLACEMENTS = [
    # ledger_post_replay: the account's available now, beside its balance now.
    (
        """           CASE WHEN NOT a.is_system THEN
               (SELECT b.balance FROM ledger_balancebucket b WHERE b.account_id = a.id AND b.bucket = 0)
           END
""",
        """           CASE WHEN NOT a.is_system THEN
               (SELECT b.balance FROM ledger_balancebucket b WHERE b.account_id = a.id AND b.bucket = 0)
           END,
           CASE WHEN NOT a.is_system THEN
               (SELECT b.balance - {active_held}
                  FROM ledger_balancebucket b WHERE b.account_id = a.id AND b.bucket = 0)
           END
""".replace("{active_held}", ACTIVE_HELD.format(account="a.id")),  # nosec B608: constants only
    ),
    (
        "    v_requested numeric[];         -- numeric: the debits of a long batch may pass 64 bits\n",
        "    v_requested numeric[];         -- numeric: the debits of a long batch may pass 64 bits\n"
        "    v_active_held bigint[];        -- what the account's active holds reserve\n",
    ),
    (
        "    v_account_balances bigint[];   -- a customer account's balance after the call\n",
        "    v_account_balances bigint[];   -- a customer account's balance after the call\n"
        "    v_account_availables bigint[]; -- and its available balance\n",
    ),
    (
        "        SELECT w.leg, b.id, b.balance, b.last_entry_number\n",
        "        SELECT w.leg, w.account_id, b.id, b.balance, b.last_entry_number, b.held\n",
    ),
    (
        "        v_requested[v_row.leg] := 0;\n    END LOOP;\n",
        "        v_requested[v_row.leg] := 0;\n"
        "        -- Read under the bucket's lock, which every hold service takes before changing `held`.\n"
        "        v_active_held[v_row.leg] := CASE WHEN v_row.held = 0 THEN 0 ELSE "
        + ACTIVE_HELD.format(account="v_row.account_id") + " END;\n"
        "    END LOOP;\n",
    ),
    (
        "        IF v_balances[v_first] < 0 AND NOT v_allow_negative[v_leg] THEN\n",
        "        IF v_balances[v_first] - v_active_held[v_first] < 0 AND NOT v_allow_negative[v_leg] THEN\n",
    ),
    (
        "'available', v_openings[v_first], 'requested'",
        "'available', v_openings[v_first] - v_active_held[v_first], 'requested'",
    ),
    (
        "        v_account_balances[v_leg] := CASE WHEN NOT v_is_system[v_leg] THEN v_balances[v_first_legs[v_leg]] END;\n",
        "        v_account_balances[v_leg] := CASE WHEN NOT v_is_system[v_leg] THEN v_balances[v_first_legs[v_leg]] END;\n"
        "        v_account_availables[v_leg] := CASE WHEN NOT v_is_system[v_leg]\n"
        "            THEN v_balances[v_first_legs[v_leg]] - v_active_held[v_first_legs[v_leg]] END;\n",
    ),
    ("           l.account_balance\n", "           l.account_balance, l.account_available\n"),
    ("v_managed_by, v_created_at, v_account_balances) WITH ORDINALITY",
     "v_managed_by, v_created_at, v_account_balances, v_account_availables) WITH ORDINALITY"),
    ("managed_by, created_at, account_balance, ord)", "managed_by, created_at, account_balance, account_available, ord)"),
]


def _with_holds(sql: str) -> str:
    for old, new in REPLACEMENTS:
        if sql.count(old) != 1:
            raise ValueError(f"0010: expected one occurrence of {old!r} in 0007's functions")
        sql = sql.replace(old, new)
    return sql


FORWARD = "ALTER TYPE ledger_posted_leg ADD ATTRIBUTE account_available bigint;\n" + _with_holds(by_index.FORWARD)
BACKWARD = (
    "DROP FUNCTION ledger_post(text, text, text, boolean, text[], text[], text[], text[], integer[], uuid[], "
    "text[], text[], text[], bigint[], integer[]);\n"
    "DROP FUNCTION ledger_post_replay(text, text, text[], integer[], uuid[], text[], bigint[]);\n"
    "ALTER TYPE ledger_posted_leg DROP ATTRIBUTE account_available;\n" + by_index.FORWARD
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0009_holds")]

    operations = [
        migrations.RunPython(
            posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD), elidable=False
        )
    ]
