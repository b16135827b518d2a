"""PostgreSQL triggers that make the ledger's invariants the database's last word.

- At commit (deferred), every transaction touched must have at least two postings that sum to
  zero per currency, and each posting's currency must be its account's.
- Postings and transactions are append-only: UPDATE and DELETE raise.
SQLite has no deferred triggers; there the services' checks and the CHECK constraints stand.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_check_transaction_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn_id uuid;
    bad_currency text;
BEGIN
    IF TG_TABLE_NAME = 'ledger_posting' THEN
        txn_id := NEW.transaction_id;
        IF NEW.currency IS DISTINCT FROM (SELECT currency FROM ledger_account WHERE id = NEW.account_id) THEN
            RAISE EXCEPTION 'ledger: posting % is in %, its account is not', NEW.id, NEW.currency
                USING ERRCODE = 'check_violation';
        END IF;
    ELSE
        txn_id := NEW.id;
    END IF;
    IF (SELECT count(*) FROM ledger_posting WHERE transaction_id = txn_id) < 2 THEN
        RAISE EXCEPTION 'ledger: transaction % has fewer than two postings', txn_id
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency INTO bad_currency FROM ledger_posting
     WHERE transaction_id = txn_id
     GROUP BY currency
    HAVING sum(CASE WHEN direction = 'DEBIT' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'ledger: transaction % does not balance in %', txn_id, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_posting_balanced
    AFTER INSERT ON ledger_posting DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT ON ledger_transaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_transaction_balanced();

CREATE OR REPLACE FUNCTION ledger_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % is append-only; post a reversing transaction instead', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_posting_append_only
    BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_forbid_change();
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_check_transaction_balanced();
"""


def run_on_postgresql(sql: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # params=None: the SQL holds RAISE format "%" signs, not query placeholders.
            schema_editor.execute(sql, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD), elidable=False)]
