"""The ledger's resources as the API shows them: the bodies the API views answer with and the
`data` of the events the services record, rendered once for both.

Plain dicts, built from what a posting returned (nothing is read): a batch renders a thousand
transfers. Each is the shape its serializer in `ledger.api.serializers` documents, field for field
and in that order, with DRF's own timestamp format.
"""

from rest_framework.fields import DateTimeField

from .models import Account, Direction, Hold, Posting, Transaction

_timestamp = DateTimeField().to_representation


def account_body(account: Account) -> dict:
    """An account with its balance and what its active holds leave of it (AccountSerializer)."""
    return {
        "id": str(account.id),
        "owner_name": account.name,
        "currency": account.currency,
        "balance": account.balance,
        "available": account.available,
        "created_at": _timestamp(account.created_at),
    }


def account_as_of_body(account: Account, *, as_of, balance: int, available: int) -> dict:
    """An account as it stood at `as_of`: its balance and `available` then, and the instant echoed."""
    return {**account_body(account), "balance": balance, "available": available, "as_of": _timestamp(as_of)}


def movement_leg(txn: Transaction) -> Posting:
    """The customer account's leg of a deposit or withdrawal (the other is cash's)."""
    return next(posting for posting in txn.legs if not posting.account.is_system)


def movement_body(txn: Transaction) -> dict:
    """A deposit or a withdrawal, with the account as it left it (AccountMovementSerializer)."""
    leg = movement_leg(txn)
    return {
        "transaction_id": str(txn.id),
        "type": txn.kind,
        "amount": leg.amount,
        "currency": leg.currency,
        "description": txn.description,
        "created_at": _timestamp(txn.created_at),
        "account": account_body(leg.account),
    }


def transfer_body(txn: Transaction) -> dict:
    """A transfer (TransferSerializer)."""
    debit, credit = sorted(txn.legs, key=lambda p: p.direction != Direction.DEBIT)
    return {
        "id": str(txn.id),
        "source_account_id": str(debit.account_id),
        "destination_account_id": str(credit.account_id),
        "amount": debit.amount,
        "currency": debit.currency,
        "description": txn.description,
        "created_at": _timestamp(txn.created_at),
        "entries": [
            {"account_id": str(p.account_id), "type": p.direction, "amount": p.amount} for p in (debit, credit)
        ],
    }


def reversal_body(txn: Transaction) -> dict:
    """A reversal, its legs in the order of the original's (ReversalSerializer). `txn.reverses` is the
    `Reversal` row the service wrote, so rendering reads nothing."""
    return {
        "id": str(txn.id),
        "reverses": str(txn.reverses.original_id),
        "description": txn.description,
        "created_at": _timestamp(txn.created_at),
        "entries": [{"account_id": str(p.account_id), "type": p.direction, "amount": p.amount} for p in txn.legs],
    }


def hold_body(hold: Hold) -> dict:
    """A hold with its status as of now: EXPIRED once expires_at passed (HoldSerializer)."""
    return {
        "id": str(hold.id),
        "source_account_id": str(hold.source_account_id),
        "destination_account_id": str(hold.destination_account_id),
        "amount": hold.amount,
        "captured_amount": hold.captured_amount,
        "currency": hold.currency,
        "status": str(hold.current_status),
        "description": hold.description,
        "expires_at": _timestamp(hold.expires_at),
        "created_at": _timestamp(hold.created_at),
    }


def statement_entry(posting: Posting) -> dict:
    """One statement line (StatementEntrySerializer)."""
    txn = posting.transaction
    return {
        "id": posting.id, "ts": _timestamp(txn.created_at), "type": posting.direction,
        "amount": posting.amount, "balance_after": posting.balance_after, "transaction_id": str(txn.id),
        "ref": txn.reference, "description": txn.description,
    }


def trial_balance_body(tb) -> dict:
    """A `ledger.selectors.TrialBalance` (TrialBalanceSerializer)."""
    return {
        "as_of": _timestamp(tb.as_of),
        "balanced": tb.balanced,
        "currencies": {
            code: {
                "debits": book.debits,
                "credits": book.credits,
                "accounts": [
                    {"id": None if a.id is None else str(a.id), "name": a.name, "debits": a.debits,
                     "credits": a.credits, "balance": a.balance}
                    for a in book.accounts
                ],
            }
            for code, book in tb.currencies.items()
        },
    }
