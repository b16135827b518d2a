"""Settlement reconciliation: import a provider's settlement file, match every line, post its fees once.

The one home of the rules: `manage.py import_settlement` and the dashboard's upload both call
`settlement_import`; the dashboard resolves breaks through `settlement_break_resolve`.

The file is CSV (read with the standard library's `csv`), UTF-8, with the header
`provider_reference,type,amount,currency,fee,settled_at` and one settled charge or refund per line:
`type` `charge` or `refund`, `amount` (> 0) and `fee` (>= 0) whole minor units, `currency` a
known code, `settled_at` ISO 8601 with a timezone. Every field of every line is checked before
anything is stored; a file with any bad line is refused whole, each problem with its line number.

Matching, line by line in file order, by `provider_reference` (a charge line against our
succeeded payments, a refund line against our refunds):
- `duplicate`: the reference already appeared on an earlier line of the file, or the payment or
  refund it names was matched by an earlier file (a partial UNIQUE index makes that the database's
  word too), so nothing is ever settled twice;
- `missing_in_ledger`: we have no succeeded payment (or refund) with that reference;
- `currency_mismatch`, then `amount_mismatch`: ours says otherwise (the amount of a payment is
  what the provider took: all of a charge, what was captured of an authorization);
- otherwise the line is matched and its fee is posted.
Then `missing_at_provider`: each succeeded payment and refund of ours booked on a UTC day the file
covers (from its first settled_at's day to its last's, inclusive) that no line of this file named
and that no earlier file named or already reported missing.

The fees of the matched lines are posted in one ledger transaction, DR `provider_fees` / CR `cash`
per currency, under the system reference `settlement:<file sha256>`, in the database transaction
that stores the run, its lines and its breaks. A file is imported once: the run is unique by the
file's SHA-256, so importing it again finds the first run and stores and posts nothing.
"""

import csv
import hashlib
import io
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from ledger.currencies import MAX_AMOUNT, currency_exponent
from ledger.exceptions import LedgerError
from ledger.models import SYSTEM_OWNER, Direction, ReferenceNamespace, Transaction
from ledger.services import Leg, system_account_id, transaction_post

from .. import selectors
from ..exceptions import SettlementBreakResolved, SettlementFileInvalid, SettlementNoteRequired
from ..models import (
    Payment,
    PaymentStatus,
    Refund,
    SettlementBreak,
    SettlementBreakKind,
    SettlementLine,
    SettlementLineStatus,
    SettlementLineType,
    SettlementRun,
)
from ..providers.base import SettledItem

SETTLEMENT_HEADER = ("provider_reference", "type", "amount", "currency", "fee", "settled_at")
# A day's report of a busy provider is a few MB; anything much larger is not a settlement file.
SETTLEMENT_FILE_MAX_BYTES = 10 * 1024 * 1024
REFERENCE_MAX = SettlementLine._meta.get_field("provider_reference").max_length
FILE_NAME_MAX = SettlementRun._meta.get_field("file_name").max_length
NOTE_MAX = SettlementBreak._meta.get_field("note").max_length
_MINOR_UNITS = re.compile(r"[0-9]+")
_IN_CHUNK = 500  # ids or references per IN (...): well under SQLite's bound on parameters


@dataclass(frozen=True)
class SettlementFileLine:
    """One valid line of a settlement file, with its line number (the header is line 1)."""

    line_number: int
    provider_reference: str
    type: str
    amount: int
    currency: str
    fee: int
    settled_at: datetime


@dataclass(frozen=True)
class SettlementImport:
    """What an import did: the run (new, or the one that imported the same file before)."""

    run: SettlementRun
    created: bool
    breaks: dict[str, int]  # kind -> how many the run recorded

    @property
    def break_count(self) -> int:
        return sum(self.breaks.values())

    @property
    def exit_code(self) -> int:
        """1 when the run recorded breaks (all unresolved when it was imported), else 0: the same on every import."""
        return 1 if self.break_count else 0


# --- the file --------------------------------------------------------------------------------


def settlement_csv(items: Iterable[SettledItem]) -> str:
    """Write a provider's settled items as a settlement file (the header, then one line each)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SETTLEMENT_HEADER)
    for item in items:
        settled_at = item.settled_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        writer.writerow([item.provider_reference, item.type, item.amount, item.currency, item.fee, settled_at])
    return out.getvalue()


def _minor_units(name: str, text: str, *, least: int) -> tuple[int | None, str | None]:
    """Parse a whole number of minor units, at least `least` and at most MAX_AMOUNT: (value, None) or (None, why)."""
    if text.startswith("-") and _MINOR_UNITS.fullmatch(text[1:]):
        return None, f"{name} is negative ({text})"
    if not _MINOR_UNITS.fullmatch(text):  # ASCII digits only: no sign, decimals, exponent or spaces
        return None, f"{name} must be a whole number of minor units, not {text[:24]!r}"
    value = int(text)
    if not least <= value <= MAX_AMOUNT:
        return None, f"{name} must be from {least} to {MAX_AMOUNT}, not {text[:24]}"
    return value, None


def _settled_at(text: str) -> tuple[datetime | None, str | None]:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, f"settled_at must be an ISO 8601 date and time, not {text[:40]!r}"
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None, f"settled_at has no timezone ({text[:40]}): write it in UTC, e.g. 2026-01-15T10:00:00Z"
    return moment.astimezone(UTC), None


def _line(number: int, row: list[str]) -> tuple[SettlementFileLine | None, list[str]]:
    """Check every field of one row: (the line, []) or (None, what is wrong with it)."""
    if not row:
        return None, ["is empty"]
    if len(row) != len(SETTLEMENT_HEADER):
        return None, [f"has {len(row)} columns, not {len(SETTLEMENT_HEADER)}"]
    reference, kind, amount_text, currency, fee_text, settled_text = row
    problems = []
    if not reference:
        problems.append("provider_reference is empty")
    elif len(reference) > REFERENCE_MAX:
        problems.append(f"provider_reference is longer than {REFERENCE_MAX} characters")
    elif reference != reference.strip() or not reference.isprintable():
        problems.append("provider_reference has spaces around it or characters that cannot be printed")
    if kind not in SettlementLineType.values:
        problems.append(f"type must be charge or refund, not {kind[:20]!r}")
    amount, problem = _minor_units("amount", amount_text, least=1)
    problems += [problem] if problem else []
    fee, problem = _minor_units("fee", fee_text, least=0)
    problems += [problem] if problem else []
    try:
        currency_exponent(currency)
    except LedgerError:
        problems.append(f"currency {currency[:16]!r} is not an ISO 4217 code nor a configured asset")
    settled_at, problem = _settled_at(settled_text)
    problems += [problem] if problem else []
    if problems:
        return None, problems
    return SettlementFileLine(number, reference, kind, amount, currency, fee, settled_at), []


def settlement_file_parse(content: bytes) -> list[SettlementFileLine]:
    """Return the lines of a settlement file, or raise SettlementFileInvalid listing every problem by line."""
    if len(content) > SETTLEMENT_FILE_MAX_BYTES:
        raise SettlementFileInvalid([(0, f"The file is larger than {SETTLEMENT_FILE_MAX_BYTES} bytes, "
                                         "the most a settlement file may be.")])
    try:
        text = content.decode("utf-8-sig")  # a byte order mark, as spreadsheets write, is not part of the header
    except UnicodeDecodeError as error:
        raise SettlementFileInvalid([(content[:error.start].count(b"\n") + 1, "is not UTF-8 text")]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[tuple[int, str]] = []
    lines: list[SettlementFileLine] = []
    try:
        header = next(reader, None)
        if header is None:
            raise SettlementFileInvalid([(1, f"is empty: the file must start with {','.join(SETTLEMENT_HEADER)}")])
        if tuple(header) != SETTLEMENT_HEADER:
            # Without the header the columns mean nothing: say so once rather than on every line.
            raise SettlementFileInvalid([(1, f"the header must be exactly {','.join(SETTLEMENT_HEADER)}")])
        for row in reader:
            line, problems = _line(reader.line_num, row)
            errors += [(reader.line_num, problem) for problem in problems]
            if line is not None:
                lines.append(line)
    except csv.Error as error:
        errors.append((reader.line_num, f"is not valid CSV ({error})"))
    if errors:
        raise SettlementFileInvalid(errors)
    return lines


# --- the import ------------------------------------------------------------------------------


def settlement_import(
    *, content: bytes, file_name: str, created_by: str, actor=None
) -> SettlementImport:
    """Import a settlement file once: match its lines, record its breaks, post its fees.

    Raise SettlementFileInvalid (nothing stored) for a malformed file. A file imported before
    (the same bytes, whatever its name) returns the first run with `created` False, having
    stored and posted nothing. `actor`, an operator importing on the dashboard, is audited.
    """
    lines = settlement_file_parse(content)
    sha256 = hashlib.sha256(content).hexdigest()
    existing = SettlementRun.objects.filter(file_sha256=sha256).first()
    if existing is not None:
        return SettlementImport(existing, created=False, breaks=_break_counts(existing))
    try:
        return _import_new(lines=lines, sha256=sha256, file_name=file_name, created_by=created_by, actor=actor)
    except IntegrityError:
        # Another file settled one of our payments meanwhile (a matched line's partial UNIQUE): once
        # more, so that line is classified again, now as a duplicate.
        return _import_new(lines=lines, sha256=sha256, file_name=file_name, created_by=created_by, actor=actor)


def _import_new(*, lines: list[SettlementFileLine], sha256: str, file_name: str, created_by: str,
                actor) -> SettlementImport:
    try:
        run, breaks = _run_store(lines=lines, sha256=sha256, file_name=file_name, created_by=created_by, actor=actor)
    except IntegrityError:
        # A twin import of the same file committed first (the run's UNIQUE sha256): its run is the answer.
        existing = SettlementRun.objects.filter(file_sha256=sha256).first()
        if existing is None:
            raise
        return SettlementImport(existing, created=False, breaks=_break_counts(existing))
    return SettlementImport(run, created=True, breaks=breaks)


def _break_counts(run: SettlementRun) -> dict[str, int]:
    return dict(Counter(run.breaks.values_list("kind", flat=True)))


def _chunks(values: Iterable, size: int = _IN_CHUNK) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _by_reference(model, references: set[str], **conditions) -> dict:
    found = {}
    for chunk in _chunks(references):
        for row in model.objects.filter(provider_reference__in=chunk, **conditions).select_related("order"):
            found[row.provider_reference] = row
    return found


def _named_before(field: str, ids: Iterable, *, status: str | None = None) -> set:
    """The ids of payments (or refunds) that lines of earlier files named (matched only, with `status`)."""
    named = set()
    for chunk in _chunks(ids):
        lines = SettlementLine.objects.filter(**{f"{field}__in": chunk})
        if status is not None:
            lines = lines.filter(status=status)
        named.update(lines.values_list(field, flat=True))
    return named


def _covered(lines: list[SettlementFileLine]) -> tuple[date, date] | None:
    """The UTC days the file covers: from its first settled_at's day to its last's (None: no line)."""
    if not lines:
        return None
    return min(line.settled_at for line in lines).date(), max(line.settled_at for line in lines).date()


@transaction.atomic
def _run_store(
    *, lines: list[SettlementFileLine], sha256: str, file_name: str, created_by: str, actor
) -> tuple[SettlementRun, dict[str, int]]:
    covered = _covered(lines)
    run = SettlementRun.objects.create(
        id=uuid.uuid4(), created_at=timezone.now(), created_by=created_by[:150], file_name=file_name[:FILE_NAME_MAX],
        file_sha256=sha256, lines=len(lines), matched=0,
        covered_from=covered[0] if covered else None, covered_to=covered[1] if covered else None,
    )
    charges = {line.provider_reference for line in lines if line.type == SettlementLineType.CHARGE}
    payments = _by_reference(Payment, charges, status=PaymentStatus.SUCCEEDED)
    refunds = _by_reference(Refund, {line.provider_reference for line in lines} - charges)
    settled_payments = _named_before("payment", [p.id for p in payments.values()], status=SettlementLineStatus.MATCHED)
    settled_refunds = _named_before("refund", [r.id for r in refunds.values()], status=SettlementLineStatus.MATCHED)

    seen: set[str] = set()
    rows: list[SettlementLine] = []
    fees: dict[str, int] = defaultdict(int)
    for line in lines:
        payment = payments.get(line.provider_reference) if line.type == SettlementLineType.CHARGE else None
        refund = refunds.get(line.provider_reference) if line.type == SettlementLineType.REFUND else None
        ours = payment or refund
        if line.provider_reference in seen:
            status = SettlementLineStatus.DUPLICATE
        elif ours is None:
            status = SettlementLineStatus.MISSING_IN_LEDGER
        elif (payment and payment.id in settled_payments) or (refund and refund.id in settled_refunds):
            status = SettlementLineStatus.DUPLICATE
        elif line.currency != ours.order.currency:
            status = SettlementLineStatus.CURRENCY_MISMATCH
        elif line.amount != _taken(payment, refund):
            status = SettlementLineStatus.AMOUNT_MISMATCH
        else:
            status = SettlementLineStatus.MATCHED
            fees[line.currency] += line.fee
        seen.add(line.provider_reference)
        rows.append(SettlementLine(
            run=run, line_number=line.line_number, provider_reference=line.provider_reference, type=line.type,
            amount=line.amount, currency=line.currency, fee=line.fee, settled_at=line.settled_at, status=status,
            payment=payment, refund=refund,
        ))
    SettlementLine.objects.bulk_create(rows, batch_size=1000)  # sets each row's id (RETURNING), for its break

    breaks = [_line_break(run, row) for row in rows if row.status != SettlementLineStatus.MATCHED]
    if covered is not None:
        breaks += _missing_at_provider(run, covered, payments=payments.values(), refunds=refunds.values())
    SettlementBreak.objects.bulk_create(breaks, batch_size=1000)

    run.matched = sum(1 for row in rows if row.status == SettlementLineStatus.MATCHED)
    run.fees = {currency: total for currency, total in sorted(fees.items()) if total}
    run.fee_transaction = _fees_post(run) if run.fees else None
    run.save(update_fields=["matched", "fees", "fee_transaction"])
    counts = dict(Counter(b.kind for b in breaks))
    if actor is not None:
        audit_record(
            actor=actor, action=AuditAction.SETTLEMENT_IMPORTED, target_type="settlement_run", target_id=run.pk,
            after={"file_name": run.file_name, "file_sha256": sha256, "lines": run.lines, "matched": run.matched,
                   "fees": run.fees, "breaks": counts},
        )
    return run, counts


def _taken(payment: Payment | None, refund: Refund | None) -> int:
    """What the provider should have settled: what the payment took (all of a charge, the capture), or the refund."""
    return payment.captured_amount if payment is not None else refund.amount


def _line_break(run: SettlementRun, line: SettlementLine) -> SettlementBreak:
    ours = line.payment or line.refund
    return SettlementBreak(
        run=run, kind=line.status, line=line, provider_reference=line.provider_reference, amount=line.amount,
        currency=line.currency, ledger_amount=_taken(line.payment, line.refund) if ours else None,
        ledger_currency=ours.order.currency if ours else "", payment=line.payment, refund=line.refund,
        created_at=run.created_at,
    )


def _missing_at_provider(
    run: SettlementRun, covered: tuple[date, date], *, payments: Iterable[Payment], refunds: Iterable[Refund]
) -> list[SettlementBreak]:
    """A break for each succeeded payment and refund booked on a covered day that no settlement file named.

    Left out: what this file named (matched or not), what an earlier file named, and what an
    earlier run already reported missing, so a day covered by two files is reported once.
    """
    start = datetime(covered[0].year, covered[0].month, covered[0].day, tzinfo=UTC)
    end = datetime(covered[1].year, covered[1].month, covered[1].day, tzinfo=UTC) + timedelta(days=1)
    booked = {"ledger_transaction__created_at__gte": start, "ledger_transaction__created_at__lt": end}
    ours_payments = list(Payment.objects.filter(status=PaymentStatus.SUCCEEDED, **booked)
                         .select_related("order").order_by("ledger_transaction__created_at", "id"))
    ours_refunds = list(Refund.objects.filter(**booked).select_related("order")
                        .order_by("ledger_transaction__created_at", "id"))
    named_payments = {p.id for p in payments} | _named_before("payment", [p.id for p in ours_payments])
    named_refunds = {r.id for r in refunds} | _named_before("refund", [r.id for r in ours_refunds])
    reported = _reported_missing(payments=[p.id for p in ours_payments], refunds=[r.id for r in ours_refunds])
    breaks = []
    for payment in ours_payments:
        if payment.id not in named_payments and ("payment", payment.id) not in reported:
            breaks.append(_missing(run, payment.provider_reference, payment.captured_amount, payment.order.currency,
                                   payment=payment))
    for refund in ours_refunds:
        if refund.id not in named_refunds and ("refund", refund.id) not in reported:
            breaks.append(_missing(run, refund.provider_reference, refund.amount, refund.order.currency,
                                   refund=refund))
    return breaks


def _reported_missing(*, payments: list, refunds: list) -> set[tuple[str, object]]:
    reported = set()
    for field, ids in (("payment", payments), ("refund", refunds)):
        for chunk in _chunks(ids):
            found = SettlementBreak.objects.filter(kind=SettlementBreakKind.MISSING_AT_PROVIDER,
                                                   **{f"{field}__in": chunk})
            reported.update((field, value) for value in found.values_list(field, flat=True))
    return reported


def _missing(run: SettlementRun, reference: str, amount: int, currency: str, **ours) -> SettlementBreak:
    return SettlementBreak(
        run=run, kind=SettlementBreakKind.MISSING_AT_PROVIDER, provider_reference=reference, amount=amount,
        currency=currency, ledger_amount=amount, ledger_currency=currency, created_at=run.created_at, **ours,
    )


def _fees_post(run: SettlementRun) -> Transaction:
    """Post the run's fees once: DR provider_fees / CR cash per currency, under `settlement:<file sha256>`."""
    legs = []
    for currency, total in run.fees.items():
        legs += [Leg(system_account_id("provider_fees", currency), Direction.DEBIT, total),
                 Leg(system_account_id("cash", currency), Direction.CREDIT, total)]
    return transaction_post(
        # Derived by our code from the file itself: the same file can never post twice.
        namespace=ReferenceNamespace.SYSTEM,
        reference=f"settlement:{run.file_sha256}",
        kind="provider_fees",
        owner=SYSTEM_OWNER,
        legs=legs,
        description=f"Provider fees, settlement file {run.file_name}"[:500],
        metadata={"settlement_run_id": str(run.pk), "file_sha256": run.file_sha256},
    )


# --- resolving a break -----------------------------------------------------------------------


def _break_state(settlement_break: SettlementBreak) -> dict:
    return {
        "run_id": str(settlement_break.run_id), "kind": settlement_break.kind,
        "provider_reference": settlement_break.provider_reference, "amount": settlement_break.amount,
        "currency": settlement_break.currency, "resolved": settlement_break.resolved,
    }


@transaction.atomic
def settlement_break_resolve(*, actor, break_id, note: str) -> SettlementBreak:
    """Mark a break resolved with the operator's note, once, and record it in the audit log.

    The note is required (SettlementNoteRequired). A break resolved already, by anyone, raises
    SettlementBreakResolved: one compare-and-set on `resolved_at`, so two operators racing have one winner.
    """
    note = (note or "").strip()
    if not note:
        raise SettlementNoteRequired(SettlementNoteRequired.message, field="note")
    settlement_break = selectors.settlement_break_get(break_id=break_id)
    before = _break_state(settlement_break)
    now = timezone.now()
    if not SettlementBreak.objects.filter(pk=settlement_break.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=actor, note=note[:NOTE_MAX]
    ):
        raise SettlementBreakResolved(f"Settlement break {settlement_break.pk} was resolved already.")
    settlement_break.resolved_at, settlement_break.resolved_by, settlement_break.note = now, actor, note[:NOTE_MAX]
    audit_record(
        actor=actor, action=AuditAction.SETTLEMENT_BREAK_RESOLVED, target_type="settlement_break",
        target_id=settlement_break.pk, before=before, after=_break_state(settlement_break), note=note,
    )
    return settlement_break
