"""The posting function: one round trip posts one or many balanced transactions (PostgreSQL only).

`ledger_post(...)` does in the database what `ledger.engine_python` does through the ORM, with the
same checks in the same order, so `ledger.services` can pick either (the differential test keeps
them identical):

1. resolve each leg to its account: by id (refused as not found when `p_accounts_owner` is set and
   the account is not that owner's customer account), or a system account by (name, currency),
   the currency being the leg's own or that of its transaction's first account named by id;
2. refuse a managed account (`p_refuse_managed`); report missing system accounts or buckets,
   without writing or locking anything, so the caller creates them and calls again;
3. lock one balance bucket per account, FOR UPDATE in (account, bucket) order, as `ledger/locks.py`
   does: bucket 0 of a customer account, the bucket the caller picked at random for a system one;
4. check every transaction balances per currency, then the reference rule (posted before with the
   same legs: return the originals; other legs: conflict), then overdraft and the balance limit
   leg by leg in order;
5. write set-based: one INSERT for the transactions, one UPDATE for the buckets, one INSERT for the
   postings, whose entry numbers and balance_after come from window functions over the legs.

Refusals come back as one row with `refusal` (a domain error's code) and `detail` (its figures, JSON),
not as an exception: every check runs before the first write, so a refusal leaves the caller's
transaction usable, exactly like the Python engine. The one exception, SQLSTATE MG001, is a
reference that a concurrent twin took for part of a batch after our checks (rows were written).
"""

from django.db import migrations

FORWARD = """
CREATE TYPE ledger_posted_leg AS (
    refusal text,                 -- set on a refusal row, which is the only row returned
    detail jsonb,
    entry integer,                -- the transaction's place in the call, from 0
    transaction_id uuid,
    created_at timestamptz,
    posted_before boolean,        -- the reference was posted before with the same legs
    kind text,
    description text,
    metadata jsonb,
    posting_id bigint,
    account_id uuid,
    direction text,
    amount bigint,
    currency text,
    bucket integer,
    entry_number bigint,
    balance_after bigint,
    account_owner text,
    account_name text,
    account_kind text,
    account_is_system boolean,
    account_allow_negative boolean,
    account_managed_by text,
    account_created_at timestamptz,
    account_balance bigint        -- a customer account's balance after the call; NULL for system accounts
);

-- The transactions already posted under these references, or a reference_conflict refusal if
-- any reference is missing or was posted with other legs (compared as sorted lists of legs).
CREATE FUNCTION ledger_post_replay(
    p_owner text, p_namespace text, p_references text[],
    p_leg_entries integer[], p_accounts uuid[], p_directions text[], p_amounts bigint[]
) RETURNS SETOF ledger_posted_leg
LANGUAGE plpgsql AS $$
DECLARE
    v_conflict text;
    v_refusal ledger_posted_leg;
BEGIN
    SELECT e.reference INTO v_conflict
      FROM unnest(p_references) WITH ORDINALITY AS e(reference, ord)
      LEFT JOIN ledger_transaction t
        ON t.owner = p_owner AND t.namespace = p_namespace AND t.reference = e.reference
      LEFT JOIN LATERAL (
          SELECT array_agg(format('%s %s %s', p.account_id, p.direction, p.amount)
                           ORDER BY p.account_id, p.direction, p.amount) AS legs
            FROM ledger_posting p WHERE p.transaction_id = t.id
      ) stored ON true
      LEFT JOIN (
          SELECT l.entry, array_agg(format('%s %s %s', l.account_id, l.direction, l.amount)
                                    ORDER BY l.account_id, l.direction, l.amount) AS legs
            FROM unnest(p_leg_entries, p_accounts, p_directions, p_amounts) AS l(entry, account_id, direction, amount)
           GROUP BY l.entry
      ) wanted ON wanted.entry = e.ord - 1
     WHERE stored.legs IS DISTINCT FROM wanted.legs
     ORDER BY e.ord
     LIMIT 1;
    IF FOUND THEN
        v_refusal.refusal := 'reference_conflict';
        v_refusal.detail := jsonb_build_object('reference', v_conflict);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    RETURN QUERY
    SELECT NULL::text, NULL::jsonb, (e.ord - 1)::integer, t.id, t.created_at, true,
           t.kind::text, t.description::text, t.metadata,
           p.id, p.account_id, p.direction::text, p.amount, p.currency::text, p.bucket::integer,
           p.entry_number, p.balance_after,
           a.owner::text, a.name::text, a.kind::text, a.is_system, a.allow_negative, a.managed_by::text,
           a.created_at,
           -- The balance now (the caller locked this bucket), not the original's balance_after.
           CASE WHEN NOT a.is_system THEN
               (SELECT b.balance FROM ledger_balancebucket b WHERE b.account_id = a.id AND b.bucket = 0)
           END
      FROM unnest(p_references) WITH ORDINALITY AS e(reference, ord)
      JOIN ledger_transaction t ON t.owner = p_owner AND t.namespace = p_namespace AND t.reference = e.reference
      JOIN ledger_posting p ON p.transaction_id = t.id
      JOIN ledger_account a ON a.id = p.account_id
     ORDER BY e.ord, p.id;
END $$;

CREATE FUNCTION ledger_post(
    p_owner text,
    p_namespace text,
    p_accounts_owner text,        -- not NULL: accounts named by id must be this owner's customer accounts
    p_refuse_managed boolean,     -- refuse accounts another app manages (a wallet's account)
    -- one element per transaction
    p_references text[],
    p_kinds text[],
    p_descriptions text[],
    p_metadata text[],            -- JSON objects
    -- one element per leg, in order
    p_leg_entries integer[],      -- its transaction's place in the call, from 0
    p_leg_accounts uuid[],        -- the account, or NULL for a system account named below
    p_leg_systems text[],         -- a system account's name (cash, revenue...), or NULL
    p_leg_currencies text[],      -- that system account's currency; NULL: its transaction's accounts'
    p_leg_directions text[],
    p_leg_amounts bigint[],
    p_leg_buckets integer[]       -- the bucket a system account's leg picked at random (0 otherwise)
) RETURNS SETOF ledger_posted_leg
LANGUAGE plpgsql AS $$
DECLARE
    v_refusal ledger_posted_leg;
    -- per leg, in order
    v_accounts uuid[];
    v_buckets integer[];
    v_currencies text[];
    v_debit_normal boolean[];
    v_allow_negative boolean[];
    v_bucket_ids bigint[];
    v_openings bigint[];
    v_balances_after numeric[];   -- numeric: a refused running sum may pass 64 bits
    v_entry_numbers bigint[];
    v_requested numeric[];
    -- per transaction
    v_transaction_ids uuid[];
    v_not_found uuid;
    v_managed uuid;
    v_missing text[];
    v_entry integer;
    v_entry_currencies text[];
    v_unbalanced text[];
    v_leg integer;
    v_inserted integer;
    v_now timestamptz;
BEGIN
    -- 1. Resolve every leg to its account and bucket. No lock yet: accounts never change their
    -- currency or owner, and a missing system account is reported before any lock is held.
    WITH leg AS (
        SELECT l.ord, l.entry, l.account_id, l.system_name, l.pick,
               a.id IS NOT NULL
                   AND (p_accounts_owner IS NULL OR (a.owner = p_accounts_owner AND NOT a.is_system)) AS visible,
               coalesce(a.managed_by, '') <> '' AS managed,
               coalesce(l.system_currency,
                        first_value(a.currency) OVER (PARTITION BY l.entry ORDER BY a.id IS NULL, l.ord)) AS system_currency,
               a.currency, a.kind, a.allow_negative
          FROM unnest(p_leg_entries, p_leg_accounts, p_leg_systems, p_leg_currencies, p_leg_buckets)
               WITH ORDINALITY AS l(entry, account_id, system_name, system_currency, pick, ord)
          LEFT JOIN ledger_account a ON a.id = l.account_id
    ),
    named AS (
        SELECT leg.ord, leg.account_id, leg.system_name, leg.system_currency, leg.visible, leg.managed,
               coalesce(leg.account_id, s.id) AS resolved,
               coalesce(leg.currency, s.currency) AS currency,
               coalesce(leg.kind, s.kind) IN ('asset', 'expense') AS debit_normal,
               coalesce(leg.allow_negative, s.allow_negative) AS allow_negative,
               -- One bucket per account: the one its first leg asks for (0 for an account named by id).
               first_value(CASE WHEN leg.system_name IS NULL THEN 0 ELSE leg.pick END)
                   OVER (PARTITION BY coalesce(leg.account_id, s.id) ORDER BY leg.ord) AS bucket
          FROM leg
          LEFT JOIN ledger_account s
            ON leg.system_name IS NOT NULL AND s.is_system
           AND s.name = leg.system_name AND s.currency = leg.system_currency
    )
    SELECT array_agg(resolved ORDER BY ord),
           array_agg(bucket ORDER BY ord),
           array_agg(currency ORDER BY ord),
           array_agg(debit_normal ORDER BY ord),
           array_agg(allow_negative ORDER BY ord),
           (array_agg(account_id ORDER BY ord) FILTER (WHERE account_id IS NOT NULL AND NOT visible))[1],
           (array_agg(account_id ORDER BY ord) FILTER (WHERE managed))[1],
           array_agg(DISTINCT system_currency) FILTER (
               WHERE system_name IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM ledger_balancebucket b WHERE b.account_id = resolved AND b.bucket = named.bucket))
      INTO v_accounts, v_buckets, v_currencies, v_debit_normal, v_allow_negative, v_not_found, v_managed, v_missing
      FROM named;

    IF v_not_found IS NOT NULL THEN
        v_refusal.refusal := 'account_not_found';
        v_refusal.detail := jsonb_build_object('account_id', v_not_found);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;
    IF p_refuse_managed AND v_managed IS NOT NULL THEN
        v_refusal.refusal := 'wallet_account';
        v_refusal.detail := jsonb_build_object('account_id', v_managed);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;
    IF v_missing IS NOT NULL THEN
        v_refusal.refusal := 'system_accounts_missing';
        v_refusal.detail := jsonb_build_object('currencies', to_jsonb(v_missing));
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    -- 2. Lock the buckets in (account, bucket) order, as ledger/locks.py does: transactions over
    -- the same buckets queue instead of deadlocking. Reads below see them as locked.
    PERFORM 1
       FROM ledger_balancebucket b
       JOIN (SELECT DISTINCT w.account_id, w.bucket FROM unnest(v_accounts, v_buckets) AS w(account_id, bucket)) w
         ON b.account_id = w.account_id AND b.bucket = w.bucket
      ORDER BY b.account_id, b.bucket
        FOR UPDATE OF b;

    -- 3. Every transaction balances per currency: the first that does not is refused.
    SELECT per_entry.entry, per_entry.currencies, per_entry.unbalanced
      INTO v_entry, v_entry_currencies, v_unbalanced
      FROM (SELECT c.entry,
                   array_agg(c.currency ORDER BY c.currency COLLATE "C") AS currencies,
                   array_agg(c.currency ORDER BY c.currency COLLATE "C") FILTER (WHERE c.net <> 0) AS unbalanced
              FROM (SELECT l.entry, l.currency,
                           sum(CASE WHEN l.direction = 'DEBIT' THEN l.amount ELSE -l.amount END) AS net
                      FROM unnest(p_leg_entries, v_currencies, p_leg_directions, p_leg_amounts)
                           AS l(entry, currency, direction, amount)
                     GROUP BY l.entry, l.currency) c
             GROUP BY c.entry) per_entry
     WHERE per_entry.unbalanced IS NOT NULL
     ORDER BY per_entry.entry
     LIMIT 1;
    IF FOUND THEN
        v_refusal.refusal := 'unbalanced';
        v_refusal.detail := jsonb_build_object(
            'entry', v_entry, 'currencies', to_jsonb(v_entry_currencies), 'unbalanced', to_jsonb(v_unbalanced),
            'leg_currencies', (SELECT to_jsonb(array_agg(l.currency ORDER BY l.ord))
                                 FROM unnest(p_leg_entries, v_currencies) WITH ORDINALITY AS l(entry, currency, ord)
                                WHERE l.entry = v_entry));
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    -- 4. The reference rule, under the locks: a twin on the same accounts has committed by now.
    IF EXISTS (SELECT 1 FROM ledger_transaction t
                WHERE t.owner = p_owner AND t.namespace = p_namespace AND t.reference = ANY (p_references)) THEN
        RETURN QUERY SELECT * FROM ledger_post_replay(
            p_owner, p_namespace, p_references, p_leg_entries, v_accounts, p_leg_directions, p_leg_amounts);
        RETURN;
    END IF;

    -- 5. Move each balance leg by leg, in order: running sums per account give balance_after and
    -- entry numbers; the first leg that overdraws or passes the limit is refused.
    -- 9 * 10^18 is ledger.models.BALANCE_LIMIT, also pinned by the bucket's CHECK constraint.
    WITH plan AS (
        SELECT l.ord, b.id AS bucket_id, b.balance AS opening,
               b.balance + sum(l.change) OVER running AS balance_after,
               b.last_entry_number + row_number() OVER running AS entry_number,
               sum(greatest(-l.change, 0)) OVER running AS requested
          FROM (SELECT l.ord, l.account_id, l.bucket,
                       (CASE WHEN (l.direction = 'DEBIT') = l.debit_normal THEN l.amount ELSE -l.amount END)::numeric AS change
                  FROM unnest(v_accounts, v_buckets, p_leg_directions, p_leg_amounts, v_debit_normal)
                       WITH ORDINALITY AS l(account_id, bucket, direction, amount, debit_normal, ord)) l
          JOIN ledger_balancebucket b ON b.account_id = l.account_id AND b.bucket = l.bucket
        WINDOW running AS (PARTITION BY l.account_id ORDER BY l.ord)
    )
    SELECT array_agg(bucket_id ORDER BY ord), array_agg(opening ORDER BY ord),
           array_agg(balance_after ORDER BY ord), array_agg(entry_number ORDER BY ord),
           array_agg(requested ORDER BY ord)
      INTO v_bucket_ids, v_openings, v_balances_after, v_entry_numbers, v_requested
      FROM plan;

    SELECT l.ord INTO v_leg
      FROM unnest(v_balances_after, v_allow_negative) WITH ORDINALITY AS l(balance_after, allow_negative, ord)
     WHERE (l.balance_after < 0 AND NOT l.allow_negative) OR abs(l.balance_after) > 9000000000000000000
     ORDER BY l.ord
     LIMIT 1;
    IF FOUND THEN
        IF v_balances_after[v_leg] < 0 AND NOT v_allow_negative[v_leg] THEN
            v_refusal.refusal := 'insufficient_funds';
            v_refusal.detail := jsonb_build_object(
                'account_id', v_accounts[v_leg], 'currency', v_currencies[v_leg],
                'available', v_openings[v_leg], 'requested', v_requested[v_leg]);
        ELSE
            v_refusal.refusal := 'balance_limit_exceeded';
            v_refusal.detail := jsonb_build_object('account_id', v_accounts[v_leg]);
        END IF;
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    -- 6. Write the transactions first: a twin that took one of our references since step 4 is
    -- waited for on the unique index, and if it took them all, nothing of ours is written yet.
    v_now := clock_timestamp();
    v_transaction_ids := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, cardinality(p_references)));
    INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at)
    SELECT t.id, p_owner, p_namespace, t.reference, t.kind, t.description, t.metadata::jsonb, v_now
      FROM unnest(v_transaction_ids, p_references, p_kinds, p_descriptions, p_metadata)
           AS t(id, reference, kind, description, metadata)
        ON CONFLICT (owner, namespace, reference) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = 0 THEN
        RETURN QUERY SELECT * FROM ledger_post_replay(
            p_owner, p_namespace, p_references, p_leg_entries, v_accounts, p_leg_directions, p_leg_amounts);
        RETURN;
    ELSIF v_inserted < cardinality(p_references) THEN
        RAISE EXCEPTION 'ledger: a reference is being used by another transaction at this moment'
            USING ERRCODE = 'MG001';
    END IF;

    -- 7. One UPDATE for every balance, one INSERT for every posting; return them with their accounts.
    RETURN QUERY
    WITH leg AS (
        SELECT l.*
          FROM unnest(p_leg_entries, v_accounts, p_leg_directions, p_leg_amounts, v_currencies, v_buckets,
                      v_bucket_ids, v_entry_numbers, v_balances_after)
               WITH ORDINALITY AS l(entry, account_id, direction, amount, currency, bucket,
                                    bucket_id, entry_number, balance_after, ord)
    ),
    moved AS (
        UPDATE ledger_balancebucket b
           SET balance = last.balance_after, last_entry_number = last.entry_number
          FROM (SELECT DISTINCT ON (leg.bucket_id) leg.bucket_id, leg.balance_after, leg.entry_number
                  FROM leg ORDER BY leg.bucket_id, leg.ord DESC) last
         WHERE b.id = last.bucket_id
        RETURNING b.account_id, b.balance
    ),
    posted AS (
        INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                                    balance_after)
        SELECT v_transaction_ids[leg.entry + 1], leg.account_id, leg.direction, leg.amount, leg.currency, leg.bucket,
               leg.entry_number, leg.balance_after
          FROM leg
         ORDER BY leg.ord
        RETURNING id, account_id, bucket, entry_number
    )
    SELECT NULL::text, NULL::jsonb, leg.entry, e.id, v_now, false, e.kind, e.description, e.metadata::jsonb,
           posted.id, leg.account_id, leg.direction, leg.amount, leg.currency, leg.bucket,
           leg.entry_number, leg.balance_after::bigint,
           a.owner::text, a.name::text, a.kind::text, a.is_system, a.allow_negative, a.managed_by::text,
           a.created_at, CASE WHEN NOT a.is_system THEN moved.balance END
      FROM leg
      -- Joined, not subscripted: finding element n of a text array walks the n before it.
      JOIN unnest(v_transaction_ids, p_kinds, p_descriptions, p_metadata) WITH ORDINALITY
           AS e(id, kind, description, metadata, ord) ON e.ord = leg.entry + 1
      JOIN posted ON posted.account_id = leg.account_id AND posted.bucket = leg.bucket
                 AND posted.entry_number = leg.entry_number
      JOIN ledger_account a ON a.id = leg.account_id
      LEFT JOIN moved ON moved.account_id = leg.account_id
     ORDER BY leg.ord;
END $$;
"""

BACKWARD = """
DROP FUNCTION IF EXISTS ledger_post(text, text, text, boolean, text[], text[], text[], text[], integer[], uuid[],
                                    text[], text[], text[], bigint[], integer[]);
DROP FUNCTION IF EXISTS ledger_post_replay(text, text, text[], integer[], uuid[], text[], bigint[]);
DROP TYPE IF EXISTS ledger_posted_leg;
"""


def run_on_postgresql(sql: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # params=None: the SQL holds format() "%s" signs, not query placeholders.
            schema_editor.execute(sql, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_reference_namespace_and_managed_accounts")]

    operations = [migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD), elidable=False)]
