"""Wallet transactions as the API shows them: the bodies the API views answer with and the `data`
of the events the services record, rendered once for both (a wallet's hold is the ledger's:
`ledger.bodies.hold_body`).

Plain dicts, the shape `wallets.api.serializers.WalletTransactionSerializer` documents, field for
field and in that order, with DRF's own timestamp format.
"""

from rest_framework.fields import DateTimeField

from .selectors import WalletTransaction

_timestamp = DateTimeField().to_representation


def wallet_transaction_body(movement: WalletTransaction) -> dict:
    """A top-up, bonus or spend (a captured hold's too) as the wallet sees it."""
    return {
        "id": str(movement.id),
        "reference_id": movement.reference_id,
        "type": movement.type,
        "user_id": movement.user_id,
        "amount": movement.amount,
        "currency": movement.currency,
        "balance_after": movement.balance_after,
        "created_at": _timestamp(movement.created_at),
    }
