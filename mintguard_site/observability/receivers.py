"""Receivers that turn the ledger's signals into metrics and money-event log lines."""

import logging

from django.dispatch import receiver

from ledger.signals import transaction_posted

logger = logging.getLogger("mintguard.money")


@receiver(transaction_posted, dispatch_uid="mintguard_observability_transaction_posted")
def on_transaction_posted(sender, transaction, **kwargs) -> None:
    # Imported here: a command that posts nothing then writes no metric files (multiprocess mode).
    from .metrics import record_ledger_transaction

    record_ledger_transaction(transaction.kind)
    logger.info(
        "ledger transaction posted",
        extra={
            "event": "ledger.transaction_posted",
            "transaction_id": str(transaction.id),
            "kind": transaction.kind,
            "reference": transaction.reference,
            "owner": transaction.owner,
        },
    )
