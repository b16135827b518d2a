"""Signals the ledger sends, so layers above it can watch money move without the ledger knowing them.

`transaction_posted` is sent once per newly posted transaction, after its database transaction
commits (a rollback sends nothing; a repeated reference that returns the original sends nothing).
Receivers get `sender=Transaction` and `transaction=<Transaction>`; they must not write to the
ledger, and their failures are logged, never raised into the poster.
"""

from django.dispatch import Signal

transaction_posted = Signal()
