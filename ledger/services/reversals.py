"""Reversals: the exact opposite of a client's own deposit, withdrawal or transfer, posted once.

One home for the rule, used by the API and by the dashboard (model invariant 10):

- reversible: a transaction of kind deposit, withdrawal or transfer in the client namespace, that
  is, one a client posted through the generic account routes. Payments and refunds (refund the
  order), wallet movements, hold captures (reference `hold:<id>`, system namespace) and reversals
  themselves are not: 409 `not_reversible`.
- the reversal posts every leg of the original with its direction flipped, through the one posting
  door (`_post`, both engines unchanged) as kind `reversal`, reference `reversal:<original id>` in
  the system namespace, owned by the original's owner whoever asks. Managed (wallet) accounts are
  refused as on the generic routes (409 `wallet_account`), and a customer account is never taken
  below what it has available (409 `insufficient_funds`).
- a `Reversal` row, written right after the posting in its transaction, links the two; its primary
  key is the original, so a second reversal is impossible even when two race past the check here
  (409 `already_reversed`). The loser's posting finds the winner's reference posted before, under
  the balance locks, and the link's unique index refuses it.
- `transaction.reversed` is recorded for the owner in the same transaction, `data` the reversal
  as the API shows it.
"""

from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from audit.models import AuditAction
from audit.services import audit_record
from events.services import NewEvent, events_record

from ..bodies import reversal_body
from ..exceptions import AlreadyReversed, NotReversible, TransactionNotFound
from ..models import (
    CAPTURE_REFERENCE_PREFIX,
    REVERSAL_REFERENCE_PREFIX,
    Direction,
    Posting,
    ReferenceNamespace,
    Reversal,
    Transaction,
)
from .postings import Leg, NewTransaction, _post, joins_transaction

# What a client posts through the generic account routes, and nothing else.
REVERSIBLE_KINDS = frozenset({"deposit", "withdrawal", "transfer"})
REVERSAL_KIND = "reversal"
OPPOSITE = {Direction.DEBIT: Direction.CREDIT, Direction.CREDIT: Direction.DEBIT}


def is_reversible(txn: Transaction) -> bool:
    """Whether the transaction is of a kind that may be reversed (reversed already or not)."""
    return txn.namespace == ReferenceNamespace.CLIENT and txn.kind in REVERSIBLE_KINDS


def reversal_refusal(txn: Transaction, *, reversed_already: bool) -> NotReversible | AlreadyReversed | None:
    """The error a reversal of `txn` would meet now, or None: for the dashboard's early feedback too."""
    if not is_reversible(txn):
        if txn.kind == REVERSAL_KIND:
            return NotReversible(f"Transaction {txn.id} is itself a reversal; post a new transaction instead.")
        # A hold's capture is a transfer our code posted (reference `hold:<id>`), not the client's.
        what = "a hold's capture" if txn.reference.startswith(CAPTURE_REFERENCE_PREFIX) else f"a {txn.kind}"
        return NotReversible(f"Transaction {txn.id} is {what}: only a deposit, withdrawal or transfer "
                             "is reversed this way (refund a payment through its order).")
    if reversed_already:
        return AlreadyReversed(f"Transaction {txn.id} was already reversed.")
    return None


def _original(transaction_id, owner: str | None) -> tuple[Transaction, bool]:
    """The transaction with its postings and their accounts, and whether it was reversed, in one query;
    or TransactionNotFound (also for another owner's: `owner` given)."""
    try:
        transaction_id = transaction_id if isinstance(transaction_id, UUID) else UUID(str(transaction_id))
    except ValueError:  # an id that cannot exist does not
        raise TransactionNotFound(f"Transaction {transaction_id} does not exist.") from None
    # Every transaction has at least two postings: reading them finds the transaction too.
    postings = (Posting.objects.filter(transaction_id=transaction_id).select_related("transaction", "account")
                .annotate(reversed_already=Exists(Reversal.objects.filter(original=OuterRef("transaction_id"))))
                .order_by("id"))
    if owner is not None:
        postings = postings.filter(transaction__owner=owner)
    postings = list(postings)
    if not postings:
        raise TransactionNotFound(f"Transaction {transaction_id} does not exist.")
    original = postings[0].transaction
    original.__dict__["legs"] = postings  # the cached_property's slot: read, no second query
    return original, postings[0].reversed_already


def _opposite(posting: Posting) -> Leg:
    """The posting's leg, direction flipped; a system account by name, so the posting picks its bucket."""
    direction = OPPOSITE[posting.direction]
    if posting.account.is_system:
        return Leg(None, direction, posting.amount, system=posting.account.name)
    return Leg(posting.account_id, direction, posting.amount)


@joins_transaction
def transaction_reverse(*, transaction_id, owner: str | None = None, description: str = "") -> Transaction:
    """Post the exact opposite legs of a client's deposit, withdrawal or transfer, once; return the reversal.

    `owner` given (an API client), another owner's transaction does not exist. The reversal belongs
    to the original's owner and `txn.reverses` is its `Reversal` row.
    """
    original, reversed_already = _original(transaction_id, owner)
    refusal = reversal_refusal(original, reversed_already=reversed_already)
    if refusal is not None:
        raise refusal
    entry = NewTransaction(reference=f"{REVERSAL_REFERENCE_PREFIX}{original.id}", kind=REVERSAL_KIND,
                           description=description, legs=[_opposite(p) for p in original.legs])
    # refuse_managed: a wallet's account moves only through the wallets app, as on the generic routes.
    txn = _post(owner=original.owner, namespace=ReferenceNamespace.SYSTEM, entries=[entry], refuse_managed=True)[0]
    try:
        # No savepoint: the caller's transaction (always atomic, `joins_transaction`) rolls back whole on
        # the 409, so nothing after this statement needs it.
        Reversal.objects.create(original=original, reversal=txn)
    except IntegrityError:
        # A twin reversed it since our check: our posting found its reference posted before.
        raise AlreadyReversed(f"Transaction {original.id} was already reversed.") from None
    events_record([NewEvent(type="transaction.reversed", owner=txn.owner, data=reversal_body(txn))])
    return txn


@transaction.atomic
def operator_transaction_reverse(*, transaction_id, user, note: str, description: str = "") -> Transaction:
    """Reverse a transaction as an operator and record it in the audit log with the note.

    The note is required: an operator moving a client's money back must say why. The audit entry
    commits with the reversal, or neither does.
    """
    note = (note or "").strip()
    if not note:
        raise ValueError("An operator's reversal needs a note for the audit log.")
    txn = transaction_reverse(transaction_id=transaction_id, description=description)
    debits = [leg for leg in txn.legs if leg.direction == Direction.DEBIT]  # one currency: a reversible kind's
    audit_record(actor=user, action=AuditAction.TRANSACTION_REVERSED, target_type="transaction",
                 target_id=txn.reverses.original_id, before={"reversed_by": None},
                 after={"reversed_by": str(txn.id), "amount": sum(leg.amount for leg in debits),
                        "currency": debits[0].currency}, note=note)
    return txn
