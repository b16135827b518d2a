"""The simulated provider's memory: its own tables, as a real provider keeps its own records.

They live with the simulator and are re-exported by `payments.models` (where Django finds them).
Every record is unique per provider idempotency key, so asking twice returns the first answer; an
authorization is closed once, captured (part or all) or voided, whichever call comes first.
What the provider took (a succeeded charge, a capture) carries its fee (`simulator.provider_fee`),
which its settlement reports list; a refund costs nothing.
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class SimulatedCharge(models.Model):
    """What the simulated provider remembers of a charge: its answer, by the key it was sent."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        DECLINED = "declined"

    id = models.BigAutoField(primary_key=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reference = models.CharField(max_length=100, unique=True)
    failure_reason = models.CharField(max_length=100, blank=True, default="")
    fee = models.BigIntegerField(default=0, help_text="The provider's fee on a succeeded charge, in minor units.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "payments"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_simcharge_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="payments_simcharge_fee_not_negative"),
        ]
        indexes = [models.Index(fields=["created_at"], name="payments_simcharge_created")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.outcome})"


class SimulatedRefund(models.Model):
    id = models.BigAutoField(primary_key=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    charge_reference = models.CharField(max_length=100)
    amount = models.BigIntegerField()
    reference = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "payments"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_simrefund_amount_positive"),
        ]
        indexes = [models.Index(fields=["created_at"], name="payments_simrefund_created")]

    def __str__(self) -> str:
        return self.reference


class SimulatedAuthorization(models.Model):
    """What the simulated provider remembers of an authorization: its answer by key, then how it closed.

    `outcome` is the authorize call's answer and never changes. An authorized hold is closed once:
    `closure` goes from "" to captured (with `captured_amount`) or voided in one compare-and-set,
    so a capture and a void racing on it have one winner, and the loser learns what won.
    """

    class Outcome(models.TextChoices):
        AUTHORIZED = "authorized"
        DECLINED = "declined"

    class Closure(models.TextChoices):
        OPEN = "", "Open"
        CAPTURED = "captured", "Captured"
        VOIDED = "voided", "Voided"

    id = models.BigAutoField(primary_key=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reference = models.CharField(max_length=100, unique=True)
    failure_reason = models.CharField(max_length=100, blank=True, default="")
    closure = models.CharField(max_length=10, choices=Closure.choices, blank=True, default="")
    captured_amount = models.BigIntegerField(null=True, blank=True)
    closed_by_key = models.CharField(max_length=255, blank=True, default="", help_text="The capture's or void's key.")
    fee = models.BigIntegerField(default=0, help_text="The provider's fee on the capture, in minor units.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "payments"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_simauth_amount_positive"),
            # Only a held authorization closes, and a capture takes 1..amount of it.
            models.CheckConstraint(
                condition=Q(closure="", captured_amount__isnull=True)
                | Q(closure="voided", outcome="authorized", captured_amount__isnull=True)
                | Q(closure="captured", outcome="authorized", captured_amount__isnull=False,
                    captured_amount__gt=0, captured_amount__lte=F("amount")),
                name="payments_simauth_closed_within_amount",
            ),
            models.CheckConstraint(condition=Q(fee__gte=0), name="payments_simauth_fee_not_negative"),
        ]
        indexes = [models.Index(fields=["closed_at"], name="payments_simauth_closed")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.closure or self.outcome})"
