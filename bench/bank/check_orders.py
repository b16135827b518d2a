"""The checker's order rules: what the acknowledged pays, authorizations, captures, voids and refunds say.

`checker` files every acknowledged order operation under its order (`file_op`) and books what it
moved (`booked`); `expected_order_state` says what the order must be at the end; and
`check_authorizations` compares the authorizations with the final payments, ledger, the simulated
provider's records and the clock (MINTGUARD_AUTHORIZATION_TTL, shared with the server on this machine).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from ..system import manage
from .orders import ORDER_KINDS
from .workload import Op

LISTS = {"pay": "pays", "refund": "refunds", "order_authorize": "auths", "order_capture": "captures",
         "order_void": "voids"}
CLOSING_STATES = ("PROCESSING", "CAPTURING", "VOIDING")  # recovery points: never left at the end
JOB_LINE = re.compile(r"Authorizations: (\d+) checked")
JOB_CHECK = "expiry job (authorizations): runs succeed"


def order_entry(order: dict, key: str) -> dict:
    return {"amount": order["amount"], "currency": order["currency"], "key": key, **{k: [] for k in LISTS.values()}}


def captured_amount(op: Op, order: dict) -> int:
    """What an acknowledged capture took, by the client's arithmetic: the amount asked, else all authorized."""
    return op.body.get("amount", order["amount"])


def file_op(order: dict, op: Op) -> int:
    """File an acknowledged operation under its order; return what it booked (cash in, sales in)."""
    order[LISTS[op.kind]].append(op)
    if op.kind == "pay" and op.response["payment"]["status"] == "SUCCEEDED":
        return order["amount"]
    if op.kind == "order_capture":
        return captured_amount(op, order)
    return 0


def expected_order_state(order: dict, findings, order_id: str) -> tuple[frozenset[str], int, int]:
    """The statuses the order may end in, its paid_amount and its refunded_amount."""
    charged = [op for op in order["pays"] if op.response["payment"]["status"] == "SUCCEEDED"]
    captured = order["captures"]
    findings.check("no order charged twice", len(charged) + len(captured) <= 1,
                   f"order {order_id} acknowledged successful pays {[op.key for op in charged]} and captures "
                   f"{[op.key for op in captured]}")
    for op in captured:
        findings.check("acknowledged order captures booked what they said",
                       op.response["payment"]["status"] == "SUCCEEDED" and op.response["order"]["status"] == "PAID"
                       and op.response["order"]["paid_amount"] == captured_amount(op, order),
                       f"capture {op.key} of {captured_amount(op, order)} answered {op.response}")
    for op in order["voids"]:
        findings.check("acknowledged order voids canceled the order",
                       (op.response["payment"]["status"], op.response["order"]["status"]) == ("VOIDED", "CANCELED"),
                       f"void {op.key} answered {op.response}")
    paid = order["amount"] if charged else captured_amount(captured[0], order) if captured else 0
    refunded = sum(op.response["refund"]["amount"] for op in order["refunds"])
    findings.check("refunds never exceed the payment", refunded <= paid,
                   f"order {order_id} acknowledged refunds of {refunded} on {paid} paid")
    if paid:
        status = "PAID" if refunded == 0 else "REFUNDED" if refunded == paid else "PARTIALLY_REFUNDED"
        return frozenset({status}), paid, refunded
    findings.check("no order both captured and voided", not (captured and order["voids"]),
                   f"order {order_id}: captures {[op.key for op in captured]} and voids "
                   f"{[op.key for op in order['voids']]} acknowledged")
    if any(op.response["payment"]["status"] == "AUTHORIZED" for op in order["auths"]):
        # Voided; or expired (by the job, or by a late capture or void); or still within its TTL.
        return frozenset({"CANCELED"} if order["voids"] else {"CANCELED", "AUTHORIZED"}), 0, 0
    return frozenset({"FAILED"} if order["pays"] or order["auths"] else {"CREATED"}), 0, 0


def payment_sent(payment, op: Op | None, captures: dict[str, Op]) -> bool:
    """Whether an acknowledged operation made this payment row as it stands."""
    if op is None or op.outcome != "acked" or op.response["payment"]["id"] != str(payment.id):
        return False
    answered = op.response["payment"]["status"]
    if op.kind == "pay":
        return answered == payment.status
    if op.kind != "order_authorize":
        return False
    if answered != "AUTHORIZED":
        return answered == payment.status
    closed = captures.get(str(payment.id))
    return payment.status in ("AUTHORIZED", "VOIDED", "EXPIRED") if closed is None else payment.status == "SUCCEEDED"


def captures_by_payment(ops: list[Op]) -> dict[str, Op]:
    return {op.response["payment"]["id"]: op for op in ops if op.kind == "order_capture" and op.outcome == "acked"}


def provider_charges(payments: dict) -> Counter:
    """Per order, the charges and captures the simulated provider made for these payments."""
    from payments.models import SimulatedAuthorization, SimulatedCharge

    keys = {f"payment:{p.id}": str(p.order_id) for p in payments.values()}
    charged = Counter(keys[key] for key in SimulatedCharge.objects.filter(
        idempotency_key__in=list(keys), outcome=SimulatedCharge.Outcome.SUCCEEDED).values_list(
        "idempotency_key", flat=True))
    charged.update(keys[key] for key in SimulatedAuthorization.objects.filter(
        idempotency_key__in=list(keys), closure=SimulatedAuthorization.Closure.CAPTURED).values_list(
        "idempotency_key", flat=True))
    return charged


def check_authorizations(*, findings, ops: list[Op], orders: dict, payments: dict, db_orders: dict,
                         jobs, fault_windows: list, ttl: float, final: datetime | None) -> None:
    """Each authorization closed at most once, as the answers say, and only a capture in time moved money.

    `final`: when the last expiry run (`final_expiry`, before the rows were read) started.
    """
    from ledger.models import Transaction
    from payments.models import SimulatedAuthorization

    _check_job_runs(findings, jobs, fault_windows)
    authorizations = {pid: p for pid, p in payments.items() if p.kind == "authorization"}
    at_provider = {a.idempotency_key: a for a in SimulatedAuthorization.objects.filter(
        idempotency_key__in=[f"payment:{pid}" for pid in authorizations])}
    booked = {t.reference: t for t in Transaction.objects.filter(
        namespace="system", reference__in=[f"payment:{pid}" for pid in payments]).prefetch_related("postings")}
    lifetime = timedelta(seconds=ttl)
    for pid, payment in payments.items():
        findings.check("no payment left half-done", payment.status not in CLOSING_STATES,
                       f"payment {pid} of order {payment.order_id} is still {payment.status}")
        order = db_orders.get(str(payment.order_id))
        txn = booked.get(f"payment:{pid}")
        if payment.status == "SUCCEEDED" and order is not None:
            cash_in = sum(p.amount for p in txn.postings.all() if p.direction == "DEBIT") if txn else None
            findings.check("one payment posting of paid_amount per paid order",
                           cash_in == order.paid_amount == payment.captured_amount,
                           f"order {order.id}: paid_amount {order.paid_amount}, payment {pid} captured "
                           f"{payment.captured_amount}, booked {cash_in}")
        else:
            findings.check("no money moved by a voided or expired authorization", txn is None,
                           f"payment {pid} is {payment.status} but {txn and txn.id} booked it")
    for pid, payment in authorizations.items():
        provider = at_provider.get(f"payment:{pid}")
        captured_there = provider is not None and provider.closure == "captured"
        findings.check("no money moved by a voided or expired authorization",
                       captured_there == (payment.status == "SUCCEEDED")
                       and (not captured_there or provider.captured_amount == payment.captured_amount),
                       f"payment {pid} {payment.status} captured {payment.captured_amount}; the provider: "
                       f"{provider and (provider.outcome, provider.closure, provider.captured_amount)}")
    overdue = [pid for pid, p in authorizations.items()
               if p.status == "AUTHORIZED" and final is not None and p.authorized_at + lifetime <= final]
    findings.check("no authorization left past its TTL by the expiry job", not overdue,
                   f"{len(overdue)} authorization(s) still AUTHORIZED past their TTL after the final "
                   f"expire_authorizations run: {overdue[:5]}")
    _check_answers_and_clock(findings, ops, orders, authorizations, lifetime)


def _check_answers_and_clock(findings, ops: list[Op], orders: dict, authorizations: dict, lifetime) -> None:
    """An acknowledged capture or void came before its authorization expired; `authorization_expired` after."""
    name = "authorization answers agree with the clock"
    by_order = defaultdict(list)
    for payment in authorizations.values():
        if payment.authorized_at is not None:
            by_order[str(payment.order_id)].append(payment)
    for op in ops:
        if op.kind not in ORDER_KINDS or op.kind == "order_authorize" or op.meta["order"] not in orders:
            continue
        if op.outcome == "acked":
            payment = authorizations.get(op.response["payment"]["id"])
            expires = (payment.authorized_at + lifetime).timestamp() if payment and payment.authorized_at else None
            findings.check(name, expires is not None and expires > op.first_sent_wall,
                           f"{op.kind} {op.key} acknowledged; its authorization {op.response['payment']['id']} "
                           f"expired at {expires}, the request was first sent at {op.first_sent_wall}")
        elif op.code == "authorization_expired":
            expiries = [(p.authorized_at + lifetime).timestamp() for p in by_order[op.meta["order"]]]
            findings.check(name, any(at <= op.answered_wall for at in expiries),
                           f"{op.kind} {op.key} refused authorization_expired at {op.answered_wall}; the order's "
                           f"authorizations expire at {expiries}")
        elif op.code == "capture_exceeds_authorization":
            findings.check(name, op.body.get("amount", 0) > orders[op.meta["order"]]["amount"],
                           f"capture {op.key} of {op.body.get('amount')} refused as too much")


def final_expiry(findings, env: dict) -> datetime | None:
    """Run the authorizations' expiry job once more, alone, before the checker reads the rows; return when."""
    started = datetime.now(UTC)
    done = manage(env, "expire_authorizations", timeout=300)
    findings.check(JOB_CHECK, done.returncode == 0 and JOB_LINE.search(done.stdout) is not None,
                   f"final manage.py expire_authorizations: exit {done.returncode}: {done.stdout[-500:]}"
                   f"{done.stderr[-800:]}")
    return started if done.returncode == 0 else None


def _check_job_runs(findings, jobs, fault_windows: list) -> None:
    for run in (jobs.authorization_runs if jobs else []):
        faulted = any(start <= run.end and run.start <= end for start, end in fault_windows)
        findings.check(JOB_CHECK, run.returncode == 0 or faulted,
                       f"expire_authorizations at {run.start:.1f} exit {run.returncode} outside any fault: "
                       f"{run.output[-400:]}")
