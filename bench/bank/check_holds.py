"""The checker's hold checks: the clients' answers about holds versus the final database and the clock.

Independent of `manage.py reconcile` (which checks some of this from the database alone): every
check below starts from the history (what each client was told, and when, by the wall clock the
server shares with us on this machine) or recomputes from raw rows what the services maintain.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..system import manage
from .holds import wall_time
from .jobs import EXPIRED_LINE, JobLog
from .workload import Http, Op

JOB_CHECK = "expiry job (holds): runs succeed, counts = EXPIRED holds"


@dataclass
class HoldHistory:
    """The hold operations of the history, by hold id."""

    created: dict[str, Op] = field(default_factory=dict)  # acknowledged creates
    ends: dict[str, list[Op]] = field(default_factory=lambda: defaultdict(list))  # captures and voids

    def acked(self, hold_id: str, kind: str) -> list[Op]:
        return [op for op in self.ends.get(hold_id, ()) if op.kind == kind and op.outcome == "acked"]

    def captured_amount(self, op: Op) -> int:
        """What an acknowledged capture moved, by the client's arithmetic: the amount asked, else the whole hold."""
        return op.body.get("amount", self.created[op.meta["hold"]].response["amount"])

    def moves(self) -> list[tuple[str, str, int]]:
        """(source, destination, amount) of every acknowledged capture: holds move money only then."""
        found = []
        for hold_id, ops in self.ends.items():
            created = self.created.get(hold_id)
            for op in ops:
                if op.kind == "hold_capture" and op.outcome == "acked" and created is not None:
                    found.append((created.meta["source"], created.meta["destination"], self.captured_amount(op)))
        return found


def hold_history(ops: list[Op]) -> HoldHistory:
    history = HoldHistory()
    for op in ops:
        if op.kind == "hold_create" and op.outcome == "acked":
            history.created[op.response["id"]] = op
        elif op.kind in ("hold_capture", "hold_void"):
            history.ends[op.meta["hold"]].append(op)
    return history


def check_holds(*, findings, ops: list[Op], history: HoldHistory, owner: str, http: Http, env: dict,
                jobs: JobLog | None, fault_windows: list) -> None:
    """Every hold check; the final expiry run happens here, between the two looks at `held`."""
    from ledger.models import Hold, Transaction

    rows = {str(h.id): h for h in Hold.objects.all()}
    by_reference = defaultdict(list)
    for txn in Transaction.objects.filter(reference__startswith="hold:").prefetch_related("postings"):
        by_reference[txn.reference].append(txn)

    _check_creates(findings, history, rows, owner)
    for hold_id, row in rows.items():
        _check_ends(findings, history, hold_id, row)
        _check_capture_posting(findings, history, hold_id, row, by_reference.pop(f"hold:{hold_id}", []), owner)
    for reference, txns in by_reference.items():
        findings.check("no money moved by a voided, expired or held hold", False,
                       f"{len(txns)} transaction(s) with reference {reference!r}, which names no hold")
    _check_refusals(findings, history, rows)
    _check_held_column(findings, "before the final expiry run")
    final = _final_expiry(findings, env)
    _check_held_column(findings, "after the final expiry run")
    _check_jobs(findings, jobs, final, fault_windows)
    _check_available(findings, ops, owner, http, jobs)


def _check_creates(findings, history: HoldHistory, rows: dict, owner: str) -> None:
    name = "holds = acknowledged creates (none lost, none made twice)"
    for hold_id, op in history.created.items():
        row, sent = rows.get(hold_id), op.response
        findings.check(name, row is not None, f"hold_create {op.key} answered hold {hold_id}, not in the database")
        if row is None:
            continue
        stored = (str(row.source_account_id), str(row.destination_account_id), row.amount, row.owner)
        asked = (op.body["source_account_id"], op.body["destination_account_id"], op.body["amount"], owner)
        findings.check(name, stored == asked and sent["amount"] == row.amount
                       and abs(wall_time(sent["expires_at"]) - row.expires_at.timestamp()) < 1e-3,
                       f"hold {hold_id}: stored {stored} expiring {row.expires_at}, asked {asked}, answered {sent}")
        expires_in = op.body.get("expires_in")
        findings.check(name, expires_in is None or
                       abs((row.expires_at - row.created_at).total_seconds() - expires_in) < 1e-3,
                       f"hold {hold_id}: asked to expire in {expires_in} s, stored {row.created_at}..{row.expires_at}")
    unknown = set(rows) - set(history.created)
    findings.check(name, not unknown, f"{len(unknown)} hold(s) no acknowledged create made (a retried create "
                                      f"made a second?): {sorted(unknown)[:5]}")


def _check_ends(findings, history: HoldHistory, hold_id: str, row) -> None:
    """The hold's final status is what the acknowledged captures and voids say, and nothing else."""
    captures, voids = history.acked(hold_id, "hold_capture"), history.acked(hold_id, "hold_void")
    unanswered = any(op.outcome == "indeterminate" for op in history.ends.get(hold_id, ()))
    name = "hold status = acknowledged captures and voids"
    findings.check("no hold ended twice", len(captures) + len(voids) <= 1,
                   f"hold {hold_id}: acknowledged {[op.key for op in captures]} captures and "
                   f"{[op.key for op in voids]} voids")
    findings.check("no capture above its hold", 0 <= row.captured_amount <= row.amount,
                   f"hold {hold_id}: captured {row.captured_amount} of {row.amount}")
    for op in captures:
        amount = history.captured_amount(op)
        answered = op.response
        findings.check("no capture above its hold", amount <= row.amount,
                       f"capture {op.key} of {amount} acknowledged on hold {hold_id} of {row.amount}")
        findings.check("acknowledged hold captures moved what they said",
                       (row.status, row.captured_amount) == ("CAPTURED", amount)
                       and answered["hold"]["status"] == "CAPTURED" and answered["hold"]["captured_amount"] == amount
                       and answered["transfer"]["amount"] == amount,
                       f"capture {op.key} of {amount} acknowledged: database {row.status}/{row.captured_amount}, "
                       f"answer {answered['hold']['status']}/{answered['hold']['captured_amount']}, "
                       f"transfer {answered['transfer']['amount']}")
    for op in voids:
        findings.check(name, row.status == "VOIDED" and row.captured_amount == 0
                       and op.response["hold"]["status"] == "VOIDED",
                       f"void {op.key} acknowledged, database says {row.status}/{row.captured_amount}")
    if row.status == "CAPTURED":
        findings.check(name, bool(captures) or unanswered, f"hold {hold_id} is CAPTURED; no capture was acknowledged")
    elif row.status == "VOIDED":
        findings.check(name, bool(voids) or unanswered, f"hold {hold_id} is VOIDED; no void was acknowledged")
    else:  # HELD or EXPIRED: nobody was told it ended otherwise
        findings.check("no capture acknowledged for a voided or expired hold", not captures and not voids,
                       f"hold {hold_id} is {row.status} but {[op.key for op in captures + voids]} were acknowledged")


def _check_capture_posting(findings, history: HoldHistory, hold_id: str, row, txns: list, owner: str) -> None:
    """A captured hold has exactly one transaction, hold:<id>, of its captured amount; any other hold has none."""
    if row.status != "CAPTURED":
        findings.check("no money moved by a voided, expired or held hold", not txns,
                       f"hold {hold_id} is {row.status} but transactions {[str(t.id) for t in txns]} carry its "
                       "reference")
        return
    name = "a captured hold moved its captured amount exactly once"
    findings.check(name, len(txns) == 1, f"hold {hold_id} CAPTURED with {len(txns)} transactions")
    if len(txns) != 1:
        return
    txn = txns[0]
    legs = sorted((str(p.account_id), p.direction, p.amount) for p in txn.postings.all())
    expected = sorted([(str(row.source_account_id), "DEBIT", row.captured_amount),
                       (str(row.destination_account_id), "CREDIT", row.captured_amount)])
    findings.check(name, legs == expected and (txn.namespace, txn.owner, txn.kind) == ("system", owner, "transfer"),
                   f"hold {hold_id}: transaction {txn.id} {txn.namespace}/{txn.owner}/{txn.kind} {legs}, "
                   f"expected {expected}")
    for op in history.acked(hold_id, "hold_capture"):
        findings.check(name, op.response["transfer"]["id"] == str(txn.id),
                       f"capture {op.key} answered transfer {op.response['transfer']['id']}, stored {txn.id}")


def _check_refusals(findings, history: HoldHistory, rows: dict) -> None:
    """Each answer about a hold agrees with the hold's clock and final state.

    The server decided after the request was first sent and before its answer arrived, so: an
    acknowledged capture or void was decided before the hold expired (no money moved by an expired
    hold); `hold_expired` came after it expired; `hold_not_active` only for a hold someone ended.
    """
    name = "hold answers agree with the clock and the final state"
    for hold_id, ops in history.ends.items():
        row = rows.get(hold_id)
        if row is None:
            continue  # reported by _check_creates
        expires_at = row.expires_at.timestamp()
        for op in ops:
            if op.outcome == "acked":
                findings.check(name, expires_at > op.first_sent_wall,
                               f"{op.kind} {op.key} acknowledged, but hold {hold_id} expired at {row.expires_at}, "
                               f"{op.first_sent_wall - expires_at:.3f} s before the request was first sent")
            elif op.code == "hold_expired":
                findings.check(name, expires_at <= op.answered_wall and row.status in ("HELD", "EXPIRED"),
                               f"{op.kind} {op.key} refused hold_expired; hold {hold_id} is {row.status}, expires "
                               f"{expires_at - op.answered_wall:.3f} s after the answer")
            elif op.code == "hold_not_active":
                findings.check(name, row.status in ("CAPTURED", "VOIDED"),
                               f"{op.kind} {op.key} refused hold_not_active; hold {hold_id} is {row.status}")
            elif op.code == "capture_exceeds_hold":
                findings.check(name, op.body.get("amount", 0) > row.amount,
                               f"capture {op.key} of {op.body.get('amount')} refused as more than hold {hold_id} "
                               f"of {row.amount}")


def _check_held_column(findings, when: str) -> None:
    """BalanceBucket.held is the sum of each account's HELD holds (invariant 9), recomputed from the holds."""
    from django.db.models import Sum

    from ledger.models import BalanceBucket, Hold

    held = dict(Hold.objects.filter(status="HELD").values("source_account_id").annotate(total=Sum("amount"))
                .order_by().values_list("source_account_id", "total"))
    stored = {row.account_id: row.held for row in BalanceBucket.objects.filter(bucket=0)}
    others = BalanceBucket.objects.exclude(bucket=0).exclude(held=0).count()
    findings.check("held = sum of HELD holds per account", others == 0, f"{others} buckets other than 0 hold money")
    for account_id in set(held) | {a for a, h in stored.items() if h}:
        findings.check("held = sum of HELD holds per account", stored.get(account_id) == held.get(account_id, 0),
                       f"account {account_id} {when}: held {stored.get(account_id)}, HELD holds "
                       f"{held.get(account_id, 0)}")


def _final_expiry(findings, env: dict) -> int | None:
    """Run the expiry job once more, alone; then no HELD hold may be past its expiry."""
    from ledger.models import Hold

    started = datetime.now(UTC)
    done = manage(env, "expire_holds", timeout=300)
    found = EXPIRED_LINE.search(done.stdout)
    findings.check(JOB_CHECK, done.returncode == 0 and found is not None,
                   f"final manage.py expire_holds: exit {done.returncode}: {done.stdout[-500:]}{done.stderr[-800:]}")
    overdue = Hold.objects.filter(status="HELD", expires_at__lte=started).count()
    findings.check("no HELD hold left past its expiry by the expiry job", overdue == 0,
                   f"{overdue} HELD hold(s) expired before the final expire_holds run and are still HELD")
    return int(found.group(1)) if found and done.returncode == 0 else None


def _check_jobs(findings, jobs: JobLog | None, final: int | None, fault_windows: list) -> None:
    """Each expiry run exits 0 (but during a fault) and together they expired exactly the EXPIRED holds."""
    from ledger.models import Hold

    name = JOB_CHECK
    runs = jobs.runs if jobs else []
    for run in runs:
        faulted = any(start <= run.end and run.start <= end for start, end in fault_windows)
        findings.check(name, (run.returncode == 0 and run.expired is not None) or faulted,
                       f"expire_holds at {run.start:.1f} exit {run.returncode} outside any fault: {run.output[-400:]}")
    counted = sum(run.expired or 0 for run in runs if run.returncode == 0) + (final or 0)
    expired = Hold.objects.filter(status="EXPIRED").count()
    all_counted = final is not None and all(run.returncode == 0 for run in runs)
    # A run cut by a fault may have expired some (one transaction per hold) before it died.
    findings.check(name, counted == expired if all_counted else counted <= expired,
                   f"the runs reported {counted} expired, the database has {expired} EXPIRED holds")


def _check_available(findings, ops: list[Op], owner: str, http: Http, jobs: JobLog | None) -> None:
    """No customer's available (balance - active holds) is below 0: at the end, in answers, in samples."""
    from django.db.models import Sum

    from ledger.models import Account, Hold

    name = "available never negative"
    accounts = {str(a.id): a.balance for a in Account.objects.with_balance().filter(owner=owner, is_system=False)}

    def available(at: float) -> dict[str, int]:
        moment = datetime.fromtimestamp(at, tz=UTC)
        reserved = dict(Hold.objects.filter(status="HELD", expires_at__gt=moment).values("source_account_id")
                        .annotate(total=Sum("amount")).order_by().values_list("source_account_id", "total"))
        return {a: balance - reserved.get(uuid.UUID(a), 0) for a, balance in accounts.items()}

    for account_id, value in available(time.time()).items():
        findings.check(name, value >= 0, f"account {account_id}: available {value} at the end")
    for account_id in accounts:
        before = available(time.time())[account_id]
        status, _, body = http.get(f"/api/v1/accounts/{account_id}")
        after = available(time.time())[account_id]  # holds only expire now: available only grows
        shown = body.get("available") if status == 200 and isinstance(body, dict) else None
        findings.check("API available = balance - active holds", shown is not None and before <= shown <= after,
                       f"account {account_id}: API {status} available {shown}, the holds say {before}..{after}")
    for op in ops:
        account = (op.response or {}).get("account") if op.outcome == "acked" and op.kind in (
            "deposit", "withdraw") else None
        if account is not None:
            findings.check(name, 0 <= account["available"] <= account["balance"],
                           f"{op.kind} {op.key} answered balance {account['balance']} available "
                           f"{account['available']}")
    for at, account_id, balance, shown in (jobs.bad_available if jobs else []):
        findings.check(name, False, f"GET /api/v1/accounts at {at:.3f}: account {account_id} balance {balance}, "
                                    f"available {shown}")

