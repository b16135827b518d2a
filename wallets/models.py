"""User wallets: one ledger account per (API client, user, currency).

Invariants:
1. A wallet is unique per (owner, user_id, currency): the database, not the code, stops two
   concurrent first top-ups from opening two wallets for one user and currency.
2. A wallet's money lives only in the ledger: its balance is its account's balance and every
   top-up, bonus and spend is one ledger transaction on that account. This model holds no money.
3. A wallet's account is a customer account (a liability that never goes negative) owned by the
   same API client and in the same currency as the wallet (`wallet_get_or_create` opens both
   together; nothing else creates wallets).
4. A wallet hold is a ledger hold on the wallet's account, toward revenue, that a `WalletHold` row
   ties to the wallet and to the client's `reference_id`, unique per API client like the
   reference of a top-up or spend. Only the wallet services end it (the generic hold routes refuse
   a wallet's account); its capture is the wallet's spend.
"""

import uuid

from django.db import models
from django.utils import timezone

from ledger.models import Account, Hold


class Wallet(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, help_text="The API client the wallet belongs to.")
    user_id = models.CharField(max_length=64, help_text="The client's opaque identifier of its user.")
    currency = models.CharField(max_length=12)
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            # Also the index behind every lookup: by (owner, user_id) and by (owner, user_id, currency);
            # and the conflict target of services.WALLET_OPEN_SQL, which opens wallets race-free.
            models.UniqueConstraint(fields=["owner", "user_id", "currency"], name="wallets_wallet_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.currency})"


class WalletHold(models.Model):
    """A ledger hold the wallet placed on its own account: which wallet, and the client's reference_id.

    It holds no money either: the amount, status and expiry are the ledger hold's.
    """

    hold = models.OneToOneField(Hold, primary_key=True, on_delete=models.PROTECT, related_name="wallet_hold")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    owner = models.CharField(max_length=64, help_text="The API client the hold belongs to.")
    reference_id = models.CharField(max_length=64, help_text="The client's unique id of the hold.")

    class Meta:
        constraints = [
            # A reference_id names one hold per API client, even under two Idempotency-Keys.
            models.UniqueConstraint(fields=["owner", "reference_id"], name="wallets_hold_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"hold {self.reference_id} on {self.wallet_id}"
