"""The checker: what the clients were told versus what the database and the API say.

It computes the books from the acknowledged answers alone (the clients' history), then reads the
database directly (Django ORM, after the run) and the API, and lists every disagreement as a
violation. Each check is named in docs/reliability.md; the hold checks are `check_holds`'.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..system import manage
from .check_holds import check_holds, hold_history
from .check_orders import (
    captures_by_payment,
    check_authorizations,
    expected_order_state,
    file_op,
    final_expiry,
    order_entry,
    payment_sent,
    provider_charges,
)
from .jobs import JobLog
from .orders import ORDER_KINDS
from .workload import EXPECTED_REFUSALS, Http, Op

MONEY_KINDS = ("deposit", "withdraw", "transfer", "transfer_cross_currency")
LEDGER_KIND = {"deposit": "deposit", "withdraw": "withdrawal", "transfer": "transfer"}
MAX_LISTED = 50


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # violations per check
    checks: list[str] = field(default_factory=list)  # every check that ran

    def check(self, name: str, ok: bool, message: str = "") -> None:
        if name not in self.checks:
            self.checks.append(name)
        if not ok:
            self.counts[name] += 1
            if len(self.violations) < MAX_LISTED:
                self.violations.append(f"[{name}] {message}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Expected:
    balances: dict = field(default_factory=lambda: defaultdict(int))  # account id -> balance
    currency_of: dict = field(default_factory=dict)  # account id -> currency
    customer_total: dict = field(default_factory=lambda: defaultdict(int))  # currency -> sum of customer balances
    cash: dict = field(default_factory=lambda: defaultdict(int))
    sales: dict = field(default_factory=lambda: defaultdict(int))  # revenue + seller_payable
    funding: dict = field(default_factory=lambda: defaultdict(int))


def expected_books(ops: list[Op], accounts: dict[str, list[str]], findings: Findings,
                   moves: list[tuple[str, str, int]] = ()) -> tuple[Expected, dict]:
    """Replay the acknowledged answers into balances and orders; flag answers a correct server never gives.

    `moves` are the acknowledged captures of holds (source, destination, amount): a hold moves money
    only when captured, so holds, voids and expiries leave the balances alone.
    """
    books = Expected()
    for currency, ids in accounts.items():
        for account_id in ids:
            books.currency_of[account_id] = currency
            books.balances[account_id] += 0
    orders: dict[str, dict] = {}
    for op in ops:
        findings.check("every operation answered", op.outcome != "indeterminate",
                       f"{op.kind} {op.key} got no definitive answer in {op.attempts} attempts ({dict(op.failures)})")
        if op.outcome == "refused":
            findings.check("only expected refusals", op.code in EXPECTED_REFUSALS[op.kind],
                           f"{op.kind} {op.key} refused {op.status} {op.code}: {str(op.response)[:200]}")
        if op.kind == "order_create" and op.outcome == "acked":
            orders[op.response["id"]] = order_entry(op.response, op.key)
    for op in ops:
        if op.outcome != "acked":
            continue
        body = op.response
        if op.kind == "deposit":
            account = op.meta["account"]
            books.balances[account] += op.body["amount"]
            currency = books.currency_of[account]
            books.cash[currency] += op.body["amount"]
            if op.setup:
                books.funding[currency] += op.body["amount"]
        elif op.kind == "withdraw":
            account = op.meta["account"]
            books.balances[account] -= op.body["amount"]
            books.cash[books.currency_of[account]] -= op.body["amount"]
        elif op.kind == "transfer":
            books.balances[op.meta["source"]] -= op.body["amount"]
            books.balances[op.meta["destination"]] += op.body["amount"]
        elif op.kind == "transfer_cross_currency":
            findings.check("only expected refusals", False, f"cross-currency transfer {op.key} was accepted")
        elif op.kind == "pay" or op.kind in ORDER_KINDS:  # pays, authorizations, captures, voids
            order = orders.get(op.meta["order"])
            findings.check("pays only orders we created", order is not None, f"{op.kind} {op.key} on unknown order")
            if order is not None:
                booked = file_op(order, op)
                books.cash[order["currency"]] += booked
                books.sales[order["currency"]] += booked
        elif op.kind == "refund":
            order = orders.get(op.meta["order"])
            if order is not None:
                order["refunds"].append(op)
                books.cash[order["currency"]] -= body["refund"]["amount"]
                books.sales[order["currency"]] -= body["refund"]["amount"]
    for source, destination, amount in moves:
        books.balances[source] -= amount
        books.balances[destination] += amount
    for account_id, balance in books.balances.items():
        books.customer_total[books.currency_of[account_id]] += balance
    return books, orders


def check_all(*, ops: list[Op], accounts: dict[str, list[str]], owner: str, http: Http, env: dict,
              fault_windows: list, server_errors: list, jobs: JobLog | None = None,
              authorization_ttl: float = 604_800) -> Findings:
    """Run every check; return the findings (violations must be empty)."""
    from django.db.models import Count, Sum

    from ledger import selectors
    from ledger.models import Account, Posting, Transaction
    from ledger.services import system_account_id
    from payments.models import Order, Payment, PaymentStatus, Refund

    findings = Findings()
    # The authorizations' expiry job once more, alone, before anything is read: then none is left past its TTL.
    expired_until = final_expiry(findings, env)
    holds = hold_history(ops)
    books, orders = expected_books(ops, accounts, findings, holds.moves())
    by_key = {op.key: op for op in ops}

    # -- 5xx only while a fault was being injected (a 5xx is a bug otherwise) --
    for at, kind, status, head in server_errors:
        expected = any(start <= at <= end for start, end in fault_windows)
        findings.check("5xx only during a fault", expected, f"{status} on {kind} outside any fault window: {head}")

    # -- customer balances: database, API, and the clients' arithmetic agree --
    stored = dict(Account.objects.with_balance().filter(pk__in=[uuid.UUID(a) for a in books.balances])
                  .values_list("id", "balance"))
    for account_id, balance in books.balances.items():
        db_balance = stored.get(uuid.UUID(account_id))
        findings.check("customer balance = acknowledged operations", db_balance == balance,
                       f"account {account_id}: database {db_balance}, expected {balance}")
        status, _, body = http.get(f"/api/v1/accounts/{account_id}")
        api_balance = body.get("balance") if status == 200 and isinstance(body, dict) else None
        findings.check("API balance = database balance", api_balance == db_balance,
                       f"account {account_id}: API {status} {api_balance}, database {db_balance}")
        findings.check("no customer balance negative", db_balance is None or db_balance >= 0,
                       f"account {account_id} ends at {db_balance}")
    overdrawn = Posting.objects.filter(account__allow_negative=False, balance_after__lt=0).count()
    findings.check("no customer balance negative", overdrawn == 0, f"{overdrawn} customer postings left a balance < 0")

    # -- money conserved per currency --
    for currency in sorted(set(books.currency_of.values())):
        total = sum(stored.get(uuid.UUID(a), 0) for a, c in books.currency_of.items() if c == currency)
        findings.check("money conserved per currency", total == books.customer_total[currency],
                       f"{currency}: customers hold {total}, acknowledged operations say "
                       f"{books.customer_total[currency]}")
        cash = Account.objects.with_balance().filter(pk=system_account_id("cash", currency)).values_list(
            "balance", flat=True).first() or 0
        findings.check("money conserved per currency", cash == books.cash[currency],
                       f"{currency}: cash {cash}, expected {books.cash[currency]} "
                       "(deposits - withdrawals + pays - refunds)")
        sales = sum(Account.objects.with_balance().filter(
            pk__in=[system_account_id("revenue", currency), system_account_id("seller_payable", currency)]
        ).values_list("balance", flat=True))
        findings.check("money conserved per currency", sales == books.sales[currency],
                       f"{currency}: revenue + seller_payable {sales}, expected {books.sales[currency]}")
        findings.check("books balance: cash = customers + revenue + seller_payable", cash == total + sales,
                       f"{currency}: cash {cash} != customers {total} + sales {sales}")

    status, _, summary = http.get("/api/v1/ledger/summary")
    findings.check("API ledger summary balanced", status == 200 and summary.get("balanced") is True,
                   f"GET /api/v1/ledger/summary: {status} {str(summary)[:300]}")
    if status == 200:
        for currency, line in summary["currencies"].items():
            findings.check("API ledger summary balanced", line["debits"] == line["credits"],
                           f"{currency}: debits {line['debits']} credits {line['credits']}")

    # -- every acknowledged money operation applied exactly once, every refused one never --
    transactions = {t.reference: t for t in Transaction.objects.filter(owner=owner).prefetch_related("postings")}
    for op in ops:
        if op.kind not in MONEY_KINDS:
            continue
        txn = transactions.get(op.key)
        if op.outcome != "acked":
            findings.check("refused operations have no effect", txn is None,
                           f"{op.kind} {op.key} was refused ({op.status} {op.code}) but posted {txn and txn.id}")
            continue
        findings.check("acknowledged operations applied exactly once", txn is not None,
                       f"{op.kind} {op.key} acknowledged but no ledger transaction has its reference")
        if txn is None:
            continue
        answered_id = op.response.get("transaction_id") or op.response.get("id")
        legs = sorted((str(p.account_id), p.direction, p.amount) for p in txn.postings.all())
        expected_legs = _legs_of(op, system_account_id)
        findings.check("acknowledged operations applied exactly once",
                       str(txn.id) == answered_id and txn.kind == LEDGER_KIND[op.kind] and legs == expected_legs,
                       f"{op.kind} {op.key}: answered {answered_id}, stored {txn.id} {txn.kind} {legs} "
                       f"vs {expected_legs}")

    # -- nothing applied that was never sent --
    payments = {str(p.id): p for p in Payment.objects.filter(order__owner=owner)}
    refunds = {str(r.id): r for r in Refund.objects.filter(order__owner=owner)}
    captures = captures_by_payment(ops)
    for reference, txn in transactions.items():
        prefix, _, rest = reference.partition(":")
        if prefix == "hold" and txn.namespace == "system":
            continue  # a hold's capture: judged with the holds by check_holds
        if prefix == "payment" and rest in payments:
            op = captures.get(rest) or by_key.get(payments[rest].idempotency_key)  # a capture, else a pay
            sent = op is not None and op.kind in ("pay", "order_capture") and op.outcome == "acked" and \
                op.response["payment"]["id"] == rest and op.response["payment"]["status"] == "SUCCEEDED"
        elif prefix == "refund" and rest in refunds:
            op = by_key.get(refunds[rest].idempotency_key)
            sent = op is not None and op.kind == "refund" and op.outcome == "acked" and \
                op.response["refund"]["id"] == rest
        else:
            op = by_key.get(reference)
            sent = op is not None and op.kind in LEDGER_KIND and op.outcome == "acked"
        findings.check("nothing applied that was never sent (or refused)", sent,
                       f"ledger transaction {txn.id} {txn.kind} reference {reference!r} matches no "
                       "acknowledged operation")
    for payment in payments.values():
        op = by_key.get(payment.idempotency_key)
        findings.check("nothing applied that was never sent (or refused)", payment_sent(payment, op, captures),
                       f"payment {payment.id} ({payment.kind} {payment.status}, key {payment.idempotency_key}) "
                       f"matches no acknowledged pay or authorization: {op and (op.outcome, op.status, op.code)}")
    for refund in refunds.values():
        op = by_key.get(refund.idempotency_key)
        findings.check("nothing applied that was never sent (or refused)",
                       op is not None and op.kind == "refund" and op.outcome == "acked"
                       and op.response["refund"]["id"] == str(refund.id)
                       and op.response["refund"]["amount"] == refund.amount,
                       f"refund {refund.id} ({refund.amount}, key {refund.idempotency_key}) matches no "
                       "acknowledged refund")
    acked_accounts = set(books.currency_of)
    db_accounts = {str(a) for a in Account.objects.filter(owner=owner).values_list("id", flat=True)}
    findings.check("nothing applied that was never sent (or refused)", db_accounts == acked_accounts,
                   f"accounts: {len(db_accounts - acked_accounts)} never acknowledged, "
                   f"{len(acked_accounts - db_accounts)} missing")
    db_orders = {str(o.id): o for o in Order.objects.filter(owner=owner)}
    findings.check("nothing applied that was never sent (or refused)", set(db_orders) == set(orders),
                   f"orders: {len(set(db_orders) - set(orders))} never acknowledged (a retried create made a second?), "
                   f"{len(set(orders) - set(db_orders))} acknowledged but missing")
    for op in ops:  # every acknowledged pay, authorization, capture, void and refund is the row the answer named
        if op.outcome != "acked" or op.kind not in ("pay", "refund", *ORDER_KINDS):
            continue
        named = op.response["refund"]["id"] if op.kind == "refund" else op.response["payment"]["id"]
        rows = refunds if op.kind == "refund" else payments
        findings.check("acknowledged operations applied exactly once", named in rows,
                       f"{op.kind} {op.key} answered {named}, which is not in the database")

    # -- orders: status and refunded amount follow the acknowledged pays and refunds; one charge at most --
    succeeded = Counter(Payment.objects.filter(order__owner=owner, status=PaymentStatus.SUCCEEDED)
                        .values_list("order_id", flat=True))
    charged = provider_charges(payments)  # charges, and captures of authorizations
    refunded_in_db = dict(Refund.objects.filter(order__owner=owner).values("order_id").annotate(
        total=Sum("amount")).values_list("order_id", "total"))
    for order_id, order in orders.items():
        statuses, paid, refunded = expected_order_state(order, findings, order_id)
        row = db_orders.get(order_id)
        if row is None:
            continue
        findings.check("order status and refunds = acknowledged operations",
                       row.status in statuses and (row.paid_amount, row.refunded_amount) == (paid, refunded),
                       f"order {order_id}: database {row.status} paid {row.paid_amount} refunded "
                       f"{row.refunded_amount}, expected {'/'.join(sorted(statuses))} {paid} {refunded}")
        findings.check("order status and refunds = acknowledged operations",
                       (refunded_in_db.get(row.id) or 0) == row.refunded_amount,
                       f"order {order_id}: refunded_amount {row.refunded_amount}, "
                       f"refund rows {refunded_in_db.get(row.id)}")
        findings.check("no order charged twice", succeeded[row.id] <= 1 and charged[order_id] <= 1,
                       f"order {order_id}: {succeeded[row.id]} succeeded payments, "
                       f"{charged[order_id]} provider charges")
        findings.check("every provider charge booked", charged[order_id] == succeeded[row.id],
                       f"order {order_id}: the provider charged {charged[order_id]} times, the ledger booked "
                       f"{succeeded[row.id]}")

    check_authorizations(findings=findings, ops=ops, orders=orders, payments=payments, db_orders=db_orders,
                         jobs=jobs, fault_windows=fault_windows, ttl=authorization_ttl, final=expired_until)

    # -- every retried key applied at most once (the constraints say so; the rows must agree) --
    twice = Transaction.objects.values("owner", "reference").annotate(n=Count("id")).filter(n__gt=1).count()
    findings.check("every retried key applied at most once", twice == 0, f"{twice} references posted more than once")
    twice = Payment.objects.values("order_id", "idempotency_key").annotate(n=Count("id")).filter(n__gt=1).count()
    findings.check("every retried key applied at most once", twice == 0, f"{twice} pay keys made two payments")
    twice = Refund.objects.filter(idempotency_key__isnull=False).values("order_id", "created_by", "idempotency_key") \
        .annotate(n=Count("id")).filter(n__gt=1).count()
    findings.check("every retried key applied at most once", twice == 0, f"{twice} refund keys made two refunds")

    # -- stored balances equal the postings; every transaction balances --
    for totals in selectors.bucket_totals():
        findings.check("stored balances = postings", totals.has_row and totals.stored_balance == totals.posted_balance,
                       f"account {totals.account_id} {totals.name} bucket {totals.bucket}: "
                       f"stored {totals.stored_balance}, posted {totals.posted_balance}")
        findings.check("stored balances = postings",
                       totals.posting_count == totals.max_entry_number == totals.last_entry_number
                       and (not totals.posting_count or totals.last_balance_after == totals.stored_balance),
                       f"account {totals.account_id}: entry numbers or balance_after drift {totals}")
    unbalanced = list(selectors.unbalanced_transactions())
    findings.check("every transaction balances", not unbalanced, f"unbalanced: {unbalanced[:5]}")
    short = list(selectors.transactions_with_too_few_postings())
    findings.check("every transaction balances", not short, f"fewer than two postings: {short[:5]}")
    for currency, (debits, credits) in selectors.currency_totals().items():
        findings.check("every transaction balances", debits == credits, f"{currency}: {debits} != {credits}")

    check_holds(findings=findings, ops=ops, history=holds, owner=owner, http=http, env=env, jobs=jobs,
                fault_windows=fault_windows)

    reconciled = manage(env, "reconcile")
    findings.check("manage.py reconcile exits 0", reconciled.returncode == 0,
                   f"exit {reconciled.returncode}: {reconciled.stdout[-1500:]}{reconciled.stderr[-500:]}")
    return findings


def _legs_of(op: Op, system_account_id) -> list[tuple[str, str, int]]:
    amount = op.body["amount"]
    if op.kind == "transfer":
        legs = [(op.meta["source"], "DEBIT", amount), (op.meta["destination"], "CREDIT", amount)]
    else:
        account = op.meta["account"]
        cash = str(system_account_id("cash", op.meta["currency"]))
        legs = [(cash, "DEBIT", amount), (account, "CREDIT", amount)] if op.kind == "deposit" else \
            [(account, "DEBIT", amount), (cash, "CREDIT", amount)]
    return sorted(legs)
