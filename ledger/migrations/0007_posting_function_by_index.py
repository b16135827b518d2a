"""The posting function at the cost of a hand-written transfer (PostgreSQL only).

`ledger_post(...)` keeps 0006's signature, result, checks, refusal order and figures. Measured with
`pg_stat_user_functions` (1,000 accounts, 10,000+ transactions of one owner, the versions called in
turn; the spread is the shared machine's load): a 2-leg transfer took 1.66-1.94 ms of server time
under 0006, 0.36-0.59 ms now, a scalar PL/pgSQL transfer 0.19-0.25; a 1,000-transfer batch 116-180
ms, now 46-76 ms (mostly the INSERTs: foreign-key checks, indexes, ON CONFLICT).
auto_explain showed why 0006 cost more as the ledger grew: not seeing that the unnest()ed arrays hold
a few elements, the planner hash-joined them over Seq Scans of `ledger_account` and
`ledger_balancebucket`, and with stale statistics checked references by scanning all the owner's
transactions; and the per-leg arithmetic was window functions over CTEs, tens of microseconds a
statement where a PL/pgSQL loop iteration costs about one. So now:

- every table is reached by a unique index, one probe per array element: the functions run with
  sequential scans, hash and merge joins and materialization off, and generic plans (their SET
  clause, ~1 us a call), which leaves nested loops over the arrays with an index scan inside, the
  same plan at any size. The reference check is a LATERAL probe with LIMIT, which no statistics can
  turn into a scan. No statement joins two arrays (a nested loop over two arrays is quadratic):
  what relates legs to one another is done in loops over arrays indexed by leg;
- an account's running state (bucket, balance, entry number, requested sum) lives at the index of
  its first leg in the call (`v_first_legs`), found by the statement that reads the accounts;
- the writes stay set-based: one INSERT for the transactions, then one statement that updates every
  bucket by primary key, inserts every posting and returns the legs.

`ledger_post_replay` is rewritten the same way: under those settings 0006's join of wanted to stored
legs was quadratic (replaying a 1,000-transfer batch took 1 to 3 s; 60 to 150 ms now).
"""

from importlib import import_module

from django.db import migrations

posting_function = import_module("ledger.migrations.0006_posting_function")

FORWARD = """
-- The transactions already posted under these references, or a reference_conflict refusal if
-- any reference is missing or was posted with other legs (compared as sorted lists of legs).
CREATE OR REPLACE FUNCTION ledger_post_replay(
    p_owner text, p_namespace text, p_references text[],
    p_leg_entries integer[], p_accounts uuid[], p_directions text[], p_amounts bigint[]
) RETURNS SETOF ledger_posted_leg
LANGUAGE plpgsql
-- As for ledger_post, below.
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_refusal ledger_posted_leg;
    v_wanted text[];              -- per transaction: its legs, sorted, as text
    v_stored text[];              -- the same for the transaction posted under its reference, if any
    v_transaction_ids uuid[];
    v_entry integer;
BEGIN
    SELECT array_agg(w.legs ORDER BY w.entry)
      INTO v_wanted
      FROM (SELECT l.entry, string_agg(format('%s %s %s', l.account_id, l.direction, l.amount), ','
                                       ORDER BY l.account_id, l.direction, l.amount) AS legs
              FROM unnest(p_leg_entries, p_accounts, p_directions, p_amounts) AS l(entry, account_id, direction, amount)
             GROUP BY l.entry) w;
    -- One probe of the reference's unique index per reference (LIMIT: never a join over the
    -- owner's transactions), then that transaction's postings by their index.
    SELECT array_agg(posted.id ORDER BY e.ord), array_agg(posted.legs ORDER BY e.ord)
      INTO v_transaction_ids, v_stored
      FROM unnest(p_references) WITH ORDINALITY AS e(reference, ord)
      LEFT JOIN LATERAL (
          SELECT t.id, (SELECT string_agg(format('%s %s %s', p.account_id, p.direction, p.amount), ','
                                          ORDER BY p.account_id, p.direction, p.amount)
                          FROM ledger_posting p WHERE p.transaction_id = t.id) AS legs
            FROM ledger_transaction t
           WHERE t.owner = p_owner AND t.namespace = p_namespace AND t.reference = e.reference
           LIMIT 1
      ) posted ON true;
    FOR v_entry IN 1 .. cardinality(p_references) LOOP
        IF v_stored[v_entry] IS DISTINCT FROM v_wanted[v_entry] THEN
            v_refusal.refusal := 'reference_conflict';
            v_refusal.detail := jsonb_build_object('reference', p_references[v_entry]);
            RETURN NEXT v_refusal;
            RETURN;
        END IF;
    END LOOP;

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
      FROM unnest(v_transaction_ids) WITH ORDINALITY AS e(transaction_id, ord)
      JOIN ledger_transaction t ON t.id = e.transaction_id
      JOIN ledger_posting p ON p.transaction_id = t.id
      JOIN ledger_account a ON a.id = p.account_id
     ORDER BY e.ord, p.id;
END $$;

CREATE OR REPLACE FUNCTION ledger_post(
    p_owner text,
    p_namespace text,
    p_accounts_owner text,        -- not NULL: accounts named by id must be this owner's customer accounts
    p_refuse_managed boolean,     -- refuse accounts another app manages (a wallet's account)
    -- one element per transaction
    p_references text[],
    p_kinds text[],
    p_descriptions text[],
    p_metadata text[],            -- JSON objects
    -- one element per leg, grouped by transaction, in order
    p_leg_entries integer[],      -- its transaction's place in the call, from 0
    p_leg_accounts uuid[],        -- the account, or NULL for a system account named below
    p_leg_systems text[],         -- a system account's name (cash, revenue...), or NULL
    p_leg_currencies text[],      -- that system account's currency; NULL: its transaction's accounts'
    p_leg_directions text[],
    p_leg_amounts bigint[],
    p_leg_buckets integer[]       -- the bucket a system account's leg picked at random (0 otherwise)
) RETURNS SETOF ledger_posted_leg
LANGUAGE plpgsql
-- Every statement joins arrays of a few legs (or a batch's thousands) to a table by a unique index:
-- the planner, which sees neither the sizes nor that, is told so.
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET enable_material = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_refusal ledger_posted_leg;
    v_leg_count constant integer := cardinality(p_leg_amounts);
    v_entry_count constant integer := cardinality(p_references);
    v_leg integer;
    v_first integer;
    v_entry integer;
    -- per leg: its account (named by id, or the system account its name and currency resolve to)
    v_account_ids uuid[];
    v_owners text[];
    v_names text[];
    v_kinds text[];
    v_is_system boolean[];
    v_allow_negative boolean[];
    v_managed_by text[];
    v_created_at timestamptz[];
    v_currencies text[];
    v_first_legs integer[];        -- the first leg on the same account, where that account's state is kept
    v_buckets integer[];           -- the account's bucket for the whole call: its first leg's
    v_entry_numbers bigint[];
    v_balances_after bigint[];
    v_account_balances bigint[];   -- a customer account's balance after the call
    v_transaction_ids uuid[];
    v_transaction_kinds text[];
    v_transaction_descriptions text[];
    v_transaction_metadata text[];
    -- per account, at the index of its first leg (NULL at the other legs)
    v_bucket_ids bigint[];
    v_openings bigint[];
    v_balances bigint[];           -- bigint is enough: a balance past 9 * 10^18 is refused at once
    v_last_entry_numbers bigint[];
    v_requested numeric[];         -- numeric: the debits of a long batch may pass 64 bits
    -- per transaction
    v_entry_currencies text[];     -- the currency of its first account named by id
    v_new_transaction_ids uuid[];
    v_net_currencies text[];
    v_nets numeric[];
    v_slot integer;
    v_not_found integer;
    v_managed integer;
    v_has_system boolean := false;
    v_missing text[];
    v_row record;
    v_change bigint;
    v_inserted integer;
    v_now timestamptz;
BEGIN
    -- 1. Resolve every leg to its account. No lock yet: accounts never change their currency or
    -- owner, and a missing system account is reported before any lock is held.
    -- Aggregated from a sorted subquery: one sort, not one per array. Each leg's first leg on the
    -- same account is where that account's state will be kept (system legs: see below).
    SELECT array_agg(a.id), array_agg(a.owner), array_agg(a.name), array_agg(a.kind), array_agg(a.is_system),
           array_agg(a.allow_negative), array_agg(a.managed_by), array_agg(a.created_at), array_agg(a.currency),
           array_agg(a.first_leg::integer)
      INTO v_account_ids, v_owners, v_names, v_kinds, v_is_system, v_allow_negative, v_managed_by, v_created_at,
           v_currencies, v_first_legs
      FROM (SELECT a.*, min(l.ord) OVER (PARTITION BY l.account_id) AS first_leg
              FROM unnest(p_leg_accounts) WITH ORDINALITY AS l(account_id, ord)
              LEFT JOIN ledger_account a ON a.id = l.account_id
             ORDER BY l.ord) a;

    v_entry_currencies := array_fill(NULL::text, ARRAY[v_entry_count]);
    FOR v_leg IN 1 .. v_leg_count LOOP
        IF p_leg_accounts[v_leg] IS NULL THEN
            v_has_system := true;
        ELSIF v_account_ids[v_leg] IS NULL
              OR (p_accounts_owner IS NOT NULL AND (v_owners[v_leg] <> p_accounts_owner OR v_is_system[v_leg])) THEN
            v_not_found := coalesce(v_not_found, v_leg);
        ELSE
            v_entry_currencies[p_leg_entries[v_leg] + 1] :=
                coalesce(v_entry_currencies[p_leg_entries[v_leg] + 1], v_currencies[v_leg]);
            IF v_managed_by[v_leg] <> '' THEN
                v_managed := coalesce(v_managed, v_leg);
            END IF;
        END IF;
    END LOOP;
    IF v_not_found IS NOT NULL THEN
        v_refusal.refusal := 'account_not_found';
        v_refusal.detail := jsonb_build_object('account_id', p_leg_accounts[v_not_found]);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;
    IF p_refuse_managed AND v_managed IS NOT NULL THEN
        v_refusal.refusal := 'wallet_account';
        v_refusal.detail := jsonb_build_object('account_id', p_leg_accounts[v_managed]);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    IF v_has_system THEN
        -- A system account by (name, currency), through its unique index, one probe per leg.
        FOR v_leg IN 1 .. v_leg_count LOOP
            IF p_leg_accounts[v_leg] IS NULL THEN
                v_currencies[v_leg] := coalesce(p_leg_currencies[v_leg], v_entry_currencies[p_leg_entries[v_leg] + 1]);
            END IF;
        END LOOP;
        FOR v_row IN
            SELECT l.ord, a.id, a.owner, a.name, a.kind, a.is_system, a.allow_negative, a.managed_by, a.created_at
              FROM unnest(p_leg_systems, v_currencies) WITH ORDINALITY AS l(system_name, currency, ord)
              JOIN ledger_account a ON a.is_system AND a.name = l.system_name AND a.currency = l.currency
             WHERE l.system_name IS NOT NULL
        LOOP
            v_account_ids[v_row.ord] := v_row.id;
            v_owners[v_row.ord] := v_row.owner;
            v_names[v_row.ord] := v_row.name;
            v_kinds[v_row.ord] := v_row.kind;
            v_is_system[v_row.ord] := v_row.is_system;
            v_allow_negative[v_row.ord] := v_row.allow_negative;
            v_managed_by[v_row.ord] := v_row.managed_by;
            v_created_at[v_row.ord] := v_row.created_at;
        END LOOP;
        -- First legs again, now that system legs have their account (which a leg may also name by id).
        SELECT array_agg(f.first_leg::integer)
          INTO v_first_legs
          FROM (SELECT min(l.ord) OVER (PARTITION BY l.account_id) AS first_leg
                  FROM unnest(v_account_ids) WITH ORDINALITY AS l(account_id, ord)
                 ORDER BY l.ord) f;
    END IF;

    FOR v_leg IN 1 .. v_leg_count LOOP
        -- One bucket per account: the one its first leg asks for (0 for an account named by id).
        v_first := v_first_legs[v_leg];
        v_buckets[v_leg] := CASE WHEN p_leg_systems[v_first] IS NULL THEN 0 ELSE p_leg_buckets[v_first] END;
    END LOOP;

    IF v_has_system THEN
        SELECT array_agg(DISTINCT l.currency)
          INTO v_missing
          FROM unnest(p_leg_systems, v_account_ids, v_buckets, v_currencies) AS l(system_name, account_id, bucket, currency)
         WHERE l.system_name IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ledger_balancebucket b WHERE b.account_id = l.account_id AND b.bucket = l.bucket);
        IF v_missing IS NOT NULL THEN
            v_refusal.refusal := 'system_accounts_missing';
            v_refusal.detail := jsonb_build_object('currencies', to_jsonb(v_missing));
            RETURN NEXT v_refusal;
            RETURN;
        END IF;
    END IF;

    -- 2. Lock the buckets in (account, bucket) order, as ledger/locks.py does: transactions over
    -- the same buckets queue instead of deadlocking.
    -- Sized to the legs, so that the UPDATE below can zip them.
    v_bucket_ids := array_fill(NULL::bigint, ARRAY[v_leg_count]);
    v_balances := v_bucket_ids;
    v_last_entry_numbers := v_bucket_ids;
    FOR v_row IN
        SELECT w.leg, b.id, b.balance, b.last_entry_number
          FROM unnest(v_account_ids, v_buckets, v_first_legs) WITH ORDINALITY AS w(account_id, bucket, first_leg, leg)
          JOIN ledger_balancebucket b ON b.account_id = w.account_id AND b.bucket = w.bucket
         WHERE w.first_leg = w.leg
         ORDER BY b.account_id, b.bucket
           FOR UPDATE OF b
    LOOP
        v_bucket_ids[v_row.leg] := v_row.id;
        v_openings[v_row.leg] := v_row.balance;
        v_balances[v_row.leg] := v_row.balance;
        v_last_entry_numbers[v_row.leg] := v_row.last_entry_number;
        v_requested[v_row.leg] := 0;
    END LOOP;

    -- 3. Every transaction balances per currency: the first that does not is refused.
    v_leg := 1;
    FOR v_entry IN 0 .. v_entry_count - 1 LOOP
        v_first := v_leg;
        v_net_currencies := '{}';
        v_nets := '{}';
        WHILE v_leg <= v_leg_count AND p_leg_entries[v_leg] = v_entry LOOP
            v_slot := array_position(v_net_currencies, v_currencies[v_leg]);
            IF v_slot IS NULL THEN
                v_net_currencies := v_net_currencies || v_currencies[v_leg];
                v_nets := v_nets || 0::numeric;
                v_slot := cardinality(v_nets);
            END IF;
            v_nets[v_slot] := v_nets[v_slot]
                + CASE WHEN p_leg_directions[v_leg] = 'DEBIT' THEN p_leg_amounts[v_leg] ELSE -p_leg_amounts[v_leg] END;
            v_leg := v_leg + 1;
        END LOOP;
        IF 0 <> ANY (v_nets) THEN
            v_refusal.refusal := 'unbalanced';
            v_refusal.detail := jsonb_build_object(
                'entry', v_entry,
                'currencies', (SELECT to_jsonb(array_agg(c.currency ORDER BY c.currency COLLATE "C"))
                                 FROM unnest(v_net_currencies) AS c(currency)),
                'unbalanced', (SELECT to_jsonb(array_agg(c.currency ORDER BY c.currency COLLATE "C"))
                                 FROM unnest(v_net_currencies, v_nets) AS c(currency, net) WHERE c.net <> 0),
                'leg_currencies', to_jsonb(v_currencies[v_first : v_leg - 1]));
            RETURN NEXT v_refusal;
            RETURN;
        END IF;
    END LOOP;
    IF v_leg <= v_leg_count THEN
        RAISE EXCEPTION 'ledger_post: legs must come grouped by transaction, in order';
    END IF;

    -- 4. The reference rule, under the locks: a twin on the same accounts has committed by now.
    -- One probe of the (owner, namespace, reference) unique index per reference: LIMIT keeps the
    -- planner from flattening it into a join over all the owner's transactions.
    IF EXISTS (SELECT 1 FROM unnest(p_references) AS r(reference)
                CROSS JOIN LATERAL (SELECT 1 FROM ledger_transaction t
                                     WHERE t.owner = p_owner AND t.namespace = p_namespace
                                       AND t.reference = r.reference
                                     LIMIT 1) posted) THEN
        RETURN QUERY SELECT * FROM ledger_post_replay(
            p_owner, p_namespace, p_references, p_leg_entries, v_account_ids, p_leg_directions, p_leg_amounts);
        RETURN;
    END IF;

    -- 5. Move each balance leg by leg, in order; the first leg that overdraws or passes the limit
    -- is refused. 9 * 10^18 is ledger.models.BALANCE_LIMIT, also pinned by the bucket's CHECK.
    FOR v_leg IN 1 .. v_leg_count LOOP
        v_first := v_first_legs[v_leg];
        v_change := CASE WHEN (p_leg_directions[v_leg] = 'DEBIT') = (v_kinds[v_leg] IN ('asset', 'expense'))
                         THEN p_leg_amounts[v_leg] ELSE -p_leg_amounts[v_leg] END;
        v_balances[v_first] := v_balances[v_first] + v_change;
        v_last_entry_numbers[v_first] := v_last_entry_numbers[v_first] + 1;
        v_requested[v_first] := v_requested[v_first] + greatest(-v_change, 0);
        IF v_balances[v_first] < 0 AND NOT v_allow_negative[v_leg] THEN
            v_refusal.refusal := 'insufficient_funds';
            v_refusal.detail := jsonb_build_object(
                'account_id', v_account_ids[v_leg], 'currency', v_currencies[v_leg],
                'available', v_openings[v_first], 'requested', v_requested[v_first]);
            RETURN NEXT v_refusal;
            RETURN;
        END IF;
        IF abs(v_balances[v_first]) > 9000000000000000000 THEN
            v_refusal.refusal := 'balance_limit_exceeded';
            v_refusal.detail := jsonb_build_object('account_id', v_account_ids[v_leg]);
            RETURN NEXT v_refusal;
            RETURN;
        END IF;
        v_balances_after[v_leg] := v_balances[v_first];
        v_entry_numbers[v_leg] := v_last_entry_numbers[v_first];
    END LOOP;

    -- 6. Write the transactions first: a twin that took one of our references since step 4 is
    -- waited for on the unique index, and if it took them all, nothing of ours is written yet.
    v_now := clock_timestamp();
    FOR v_entry IN 1 .. v_entry_count LOOP
        v_new_transaction_ids[v_entry] := gen_random_uuid();
    END LOOP;
    INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at)
    SELECT t.id, p_owner, p_namespace, t.reference, t.kind, t.description, t.metadata::jsonb, v_now
      FROM unnest(v_new_transaction_ids, p_references, p_kinds, p_descriptions, p_metadata)
           AS t(id, reference, kind, description, metadata)
        ON CONFLICT (owner, namespace, reference) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = 0 THEN
        RETURN QUERY SELECT * FROM ledger_post_replay(
            p_owner, p_namespace, p_references, p_leg_entries, v_account_ids, p_leg_directions, p_leg_amounts);
        RETURN;
    ELSIF v_inserted < v_entry_count THEN
        RAISE EXCEPTION 'ledger: a reference is being used by another transaction at this moment'
            USING ERRCODE = 'MG001';
    END IF;

    -- 7. One UPDATE for every bucket (by primary key), one INSERT for every posting, and the
    -- result built from the arrays: one statement.
    FOR v_leg IN 1 .. v_leg_count LOOP
        -- Copied per leg here, where a subscript costs O(1): in SQL, element n of a text array is
        -- found by walking the n before it.
        v_entry := p_leg_entries[v_leg] + 1;
        v_transaction_ids[v_leg] := v_new_transaction_ids[v_entry];
        v_transaction_kinds[v_leg] := p_kinds[v_entry];
        v_transaction_descriptions[v_leg] := p_descriptions[v_entry];
        v_transaction_metadata[v_leg] := p_metadata[v_entry];
        v_account_balances[v_leg] := CASE WHEN NOT v_is_system[v_leg] THEN v_balances[v_first_legs[v_leg]] END;
    END LOOP;
    RETURN QUERY
    WITH moved AS (
        UPDATE ledger_balancebucket b
           SET balance = c.balance, last_entry_number = c.last_entry_number
          FROM unnest(v_bucket_ids, v_balances, v_last_entry_numbers) AS c(bucket_id, balance, last_entry_number)
         WHERE b.id = c.bucket_id   -- the first legs' rows: the others hold NULL
    ),
    posted AS (
        INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                                    balance_after)
        SELECT l.transaction_id, l.account_id, l.direction, l.amount, l.currency, l.bucket, l.entry_number,
               l.balance_after
          FROM unnest(v_transaction_ids, v_account_ids, p_leg_directions, p_leg_amounts, v_currencies, v_buckets,
                      v_entry_numbers, v_balances_after) WITH ORDINALITY
               AS l(transaction_id, account_id, direction, amount, currency, bucket, entry_number, balance_after, ord)
         ORDER BY l.ord
        RETURNING id
    )
    SELECT NULL::text, NULL::jsonb, l.entry, l.transaction_id, v_now, false,
           l.transaction_kind, l.description, l.metadata::jsonb,
           -- Posting ids come from a sequence, in insertion order, which is leg order.
           posting.ids[l.ord], l.account_id, l.direction, l.amount, l.currency, l.bucket, l.entry_number,
           l.balance_after, l.owner, l.name, l.kind, l.is_system, l.allow_negative, l.managed_by, l.created_at,
           l.account_balance
      FROM unnest(p_leg_entries, v_transaction_ids, v_transaction_kinds, v_transaction_descriptions,
                  v_transaction_metadata, v_account_ids, p_leg_directions, p_leg_amounts, v_currencies, v_buckets,
                  v_entry_numbers, v_balances_after, v_owners, v_names, v_kinds, v_is_system, v_allow_negative,
                  v_managed_by, v_created_at, v_account_balances) WITH ORDINALITY
           AS l(entry, transaction_id, transaction_kind, description, metadata, account_id, direction, amount,
                currency, bucket, entry_number, balance_after, owner, name, kind, is_system, allow_negative,
                managed_by, created_at, account_balance, ord)
     CROSS JOIN (SELECT array_agg(posted.id ORDER BY posted.id) AS ids FROM posted) posting
     ORDER BY l.ord;
END $$;
"""

# Back to 0006's functions: drop them (and the row type) and create them as 0006 did.
BACKWARD = posting_function.BACKWARD + posting_function.FORWARD


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_posting_function")]

    operations = [
        migrations.RunPython(
            posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD), elidable=False
        )
    ]
