"""Holds in one round trip each (PostgreSQL only): `ledger_hold_create` and `ledger_hold_capture`.

Measured before (`make bench`, in-process): through the ORM a hold took 6-7 statements and a capture
6, about twice a transfer's CPU each, so hold + capture cost 4 transfers. These functions do what
`ledger.services.holds` does through the ORM, in the same order with the same refusals (returned as
data, as `ledger_post` returns them, so the caller's transaction stays usable):

- `ledger_hold_create` finds both accounts (as `accounts_owner` may see them), refuses a managed
  account and a currency mismatch, locks the source's bucket, sums its active holds when `held` is
  not 0, refuses an amount beyond `available`, inserts the hold and raises `held`.
- `ledger_hold_capture` locks the hold (a hold before its buckets, as everywhere), refuses a hold
  of another owner, a wallet's hold on a generic route, an expired or ended hold and an amount
  beyond it; marks it CAPTURED so the posting's own check no longer counts it, posts the transfer
  through `ledger_post` (reference `hold:<id>`, which locks the buckets in order) and lowers `held`.
  Each posted leg carries the captured hold as JSON in `detail`, for the response.
"""

from importlib import import_module

from django.db import migrations

posting_function = import_module("ledger.migrations.0006_posting_function")

FORWARD = """
CREATE OR REPLACE FUNCTION ledger_hold_create(
    p_owner text, p_accounts_owner text, p_refuse_managed boolean, p_source uuid, p_destination uuid,
    p_amount bigint, p_expires_in integer, p_description text
) RETURNS TABLE (refusal text, detail jsonb, hold jsonb)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_source ledger_account;
    v_destination ledger_account;
    v_bucket ledger_balancebucket;
    v_active bigint := 0;
    v_now timestamptz := clock_timestamp();
    v_hold ledger_hold;
BEGIN
    SELECT * INTO v_source FROM ledger_account WHERE id = p_source;
    SELECT * INTO v_destination FROM ledger_account WHERE id = p_destination;
    IF v_source.id IS NULL OR v_source.is_system
       OR (p_accounts_owner IS NOT NULL AND v_source.owner <> p_accounts_owner) THEN
        RETURN QUERY SELECT 'account_not_found', jsonb_build_object('account_id', p_source), NULL::jsonb;
        RETURN;
    END IF;
    IF v_destination.id IS NULL
       OR (p_accounts_owner IS NOT NULL AND (v_destination.owner <> p_accounts_owner OR v_destination.is_system)) THEN
        RETURN QUERY SELECT 'account_not_found', jsonb_build_object('account_id', p_destination), NULL::jsonb;
        RETURN;
    END IF;
    IF p_refuse_managed AND (v_source.managed_by <> '' OR v_destination.managed_by <> '') THEN
        RETURN QUERY SELECT 'wallet_account', jsonb_build_object('account_id',
            CASE WHEN v_source.managed_by <> '' THEN v_source.id ELSE v_destination.id END), NULL::jsonb;
        RETURN;
    END IF;
    IF v_source.currency <> v_destination.currency THEN
        RETURN QUERY SELECT 'currency_mismatch', jsonb_build_object(
            'source', v_source.currency, 'destination', v_destination.currency), NULL::jsonb;
        RETURN;
    END IF;

    SELECT * INTO v_bucket FROM ledger_balancebucket WHERE account_id = p_source AND bucket = 0 FOR UPDATE;
    IF v_bucket.held <> 0 THEN
        v_active := coalesce((SELECT sum(h.amount) FROM ledger_hold h
                               WHERE h.source_account_id = p_source AND h.status = 'HELD'
                                 AND h.expires_at > v_now), 0);
    END IF;
    IF p_amount > v_bucket.balance - v_active THEN
        RETURN QUERY SELECT 'insufficient_funds', jsonb_build_object(
            'account_id', p_source, 'currency', v_source.currency, 'available', v_bucket.balance - v_active,
            'requested', p_amount), NULL::jsonb;
        RETURN;
    END IF;

    INSERT INTO ledger_hold (id, owner, source_account_id, destination_account_id, amount, captured_amount,
                             currency, status, description, expires_at, created_at, finished_at)
    VALUES (gen_random_uuid(), p_owner, p_source, p_destination, p_amount, 0, v_source.currency, 'HELD',
            p_description, v_now + make_interval(secs => p_expires_in), v_now, NULL)
    RETURNING * INTO v_hold;
    UPDATE ledger_balancebucket SET held = held + p_amount WHERE id = v_bucket.id;
    RETURN QUERY SELECT NULL::text, NULL::jsonb, to_jsonb(v_hold);
END $$;

CREATE OR REPLACE FUNCTION ledger_hold_capture(
    p_hold uuid, p_owner text, p_refuse_managed boolean, p_amount bigint, p_kind text, p_metadata text,
    p_bucket integer
) RETURNS SETOF ledger_posted_leg
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_hold ledger_hold;
    v_source ledger_account;
    v_destination ledger_account;
    v_amount bigint;
    v_refusal ledger_posted_leg;
    v_row ledger_posted_leg;
    v_captured jsonb;
    v_system boolean;
BEGIN
    SELECT * INTO v_hold FROM ledger_hold WHERE id = p_hold FOR UPDATE;
    IF v_hold.id IS NULL OR (p_owner IS NOT NULL AND v_hold.owner <> p_owner) THEN
        v_refusal.refusal := 'hold_not_found';
        v_refusal.detail := jsonb_build_object('hold_id', p_hold);
        RETURN NEXT v_refusal;
        RETURN;
    END IF;
    SELECT * INTO v_source FROM ledger_account WHERE id = v_hold.source_account_id;
    SELECT * INTO v_destination FROM ledger_account WHERE id = v_hold.destination_account_id;
    v_amount := coalesce(p_amount, v_hold.amount);
    v_refusal.detail := jsonb_build_object('hold', to_jsonb(v_hold), 'requested', v_amount);
    IF p_refuse_managed AND v_source.managed_by <> '' THEN
        v_refusal.refusal := 'wallet_hold';
    ELSIF v_hold.status = 'EXPIRED' OR (v_hold.status = 'HELD' AND v_hold.expires_at <= clock_timestamp()) THEN
        v_refusal.refusal := 'hold_expired';
    ELSIF v_hold.status <> 'HELD' THEN
        v_refusal.refusal := 'hold_not_active';
    ELSIF v_amount > v_hold.amount THEN
        v_refusal.refusal := 'capture_exceeds_hold';
    ELSIF v_destination.is_system AND NOT EXISTS (
            SELECT 1 FROM ledger_balancebucket b WHERE b.account_id = v_destination.id AND b.bucket = p_bucket) THEN
        -- Before any write: the caller creates the bucket and calls again.
        v_refusal.refusal := 'system_accounts_missing';
        v_refusal.detail := jsonb_build_object('currencies', jsonb_build_array(v_destination.currency));
    END IF;
    IF v_refusal.refusal IS NOT NULL THEN
        RETURN NEXT v_refusal;
        RETURN;
    END IF;

    UPDATE ledger_hold SET status = 'CAPTURED', captured_amount = v_amount, finished_at = clock_timestamp()
     WHERE id = p_hold
    RETURNING to_jsonb(ledger_hold.*) INTO v_captured;
    v_system := v_destination.is_system;
    FOR v_row IN
        SELECT * FROM ledger_post(
            v_hold.owner, 'system', NULL, false, ARRAY['hold:' || p_hold], ARRAY[p_kind],
            ARRAY[v_hold.description::text], ARRAY[p_metadata], ARRAY[0, 0],
            ARRAY[v_source.id, CASE WHEN v_system THEN NULL ELSE v_destination.id END],
            ARRAY[NULL, CASE WHEN v_system THEN v_destination.name::text END],
            ARRAY[NULL, CASE WHEN v_system THEN v_destination.currency::text END],
            ARRAY['DEBIT', 'CREDIT'], ARRAY[v_amount, v_amount],
            ARRAY[0, CASE WHEN v_system THEN p_bucket ELSE 0 END])
    LOOP
        IF v_row.refusal IS NOT NULL THEN
            -- The hold reserved this money under the same lock every debit takes: unreachable.
            RAISE EXCEPTION 'ledger_hold_capture: the posting of hold % was refused: % %',
                p_hold, v_row.refusal, v_row.detail;
        END IF;
        v_row.detail := v_captured;
        RETURN NEXT v_row;
    END LOOP;
    UPDATE ledger_balancebucket SET held = held - v_hold.amount
     WHERE account_id = v_hold.source_account_id AND bucket = 0;
END $$;
"""

BACKWARD = """
DROP FUNCTION ledger_hold_create(text, text, boolean, uuid, uuid, bigint, integer, text);
DROP FUNCTION ledger_hold_capture(uuid, text, boolean, bigint, text, text, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0011_hold_permission")]

    operations = [
        migrations.RunPython(
            posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD), elidable=False
        )
    ]
