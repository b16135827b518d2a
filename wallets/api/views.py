"""Wallet top-up, bonus, spend, holds and balance. Thin: parse, call a service or selector, render.

Idempotency: without an `Idempotency-Key` header the body's `reference_id` is the key, so a
repeated reference_id with the same body replays the first response and another body is 409
`idempotency_key_reused`. With the header, the header drives replay; the reference_id stays
unique through the ledger's (owner, reference) constraint: reusing it for the very same
movement returns the original transaction, for another one is 409 `reference_conflict`. A hold's
reference_id is the same kind of key, kept unique by the wallet hold's (owner, reference_id)
constraint. Capturing a hold moves money with no reference_id of its own: it requires the header.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.api.serializers import HoldCaptureSerializer, HoldSerializer, HoldVoidResultSerializer, HoldVoidSerializer
from ledger.bodies import hold_body
from mintguard_site.api.auth import request_owner, visible_owner
from mintguard_site.api.idempotency import idempotent
from mintguard_site.api.schema import money_route, problem, read_route
from mintguard_site.api.serializers import normalise_identifier, validated
from wallets import selectors, services
from wallets.bodies import wallet_transaction_body
from wallets.exceptions import WalletNotFound

from . import serializers as s

TAGS = ["wallets"]


# Without the header, a malformed reference_id is no key at all: the body then fails validation (422).
IDEMPOTENCY_INVALID = problem("Malformed Idempotency-Key header", "idempotency_key_invalid", 400)
CREDIT_CONFLICT = problem(
    "reference_id (or Idempotency-Key) already used with another body (idempotency_key_reused), or for "
    "another movement under a new Idempotency-Key (reference_conflict), or still in progress "
    "(idempotency_key_in_use)", "idempotency_key_reused", 409,
)
SPEND_CONFLICT = problem(
    "The wallet holds less than the amount, or has no money in this currency (insufficient_funds, "
    "stored and replayed for this reference_id); or the reference_id was reused (see top-up)",
    "insufficient_funds", 409,
)
HOLD_CONFLICT = problem(
    "The wallet's available balance (its balance less its active holds) is less than the amount, or it has "
    "no money in this currency (insufficient_funds, stored and replayed for this reference_id); or the "
    "reference_id was reused (see top-up)", "insufficient_funds", 409,
)
KEY_MISSING = problem("Missing or malformed Idempotency-Key header (idempotency_key_missing, "
                      "idempotency_key_invalid)", "idempotency_key_missing", 400)
HOLD_NOT_FOUND = problem("No wallet hold with this id under your API client", "hold_not_found", 404)
HOLD_NOT_ACTIVE = problem("The hold was captured or voided (`hold_not_active`) or expired (`hold_expired`), or "
                          "the capture exceeds it (`capture_exceeds_hold`)", "hold_not_active", 409)
HOLD_TAGS = [*TAGS, "holds"]


class _WalletOperation(APIView):
    service = None

    def post(self, request):
        data = validated(s.WalletOperationSerializer, request.data)
        movement = type(self).service(
            owner=request_owner(request), user_id=data["user_id"], amount=data["amount"],
            currency=data["currency"], reference=data["reference_id"], description=data["description"],
        )
        return Response(wallet_transaction_body(movement), status=201)


def wallet_route(*, summary: str, examples: list, conflict):
    return money_route(
        request=s.WalletOperationSerializer, response=s.WalletTransactionSerializer, summary=summary,
        examples=examples, idempotency_required=False, tags=TAGS,
        extra_responses={400: IDEMPOTENCY_INVALID, 409: conflict},
    )


class WalletTopup(_WalletOperation):
    """Credit money the user paid in to their wallet: DR treasury / CR wallet. The wallet (one per
    user and currency) opens on first use. `reference_id` is the idempotency key unless an
    Idempotency-Key header is sent: the same reference_id and body replays the first response with
    `Idempotent-Replayed: true`; another body is 409 `idempotency_key_reused`."""

    service = staticmethod(services.wallet_topup)

    @wallet_route(summary="Top up a user's wallet", conflict=CREDIT_CONFLICT,
                  examples=[s.TOPUP_EXAMPLE, s.TOPUP_RESPONSE_EXAMPLE])
    @idempotent(required=False, body_key="reference_id")
    def post(self, request):
        return super().post(request)


class WalletBonus(_WalletOperation):
    """Credit a marketing bonus to the user's wallet: DR bonus_expense / CR wallet. The wallet opens
    on first use. Idempotent on `reference_id` exactly like a top-up."""

    service = staticmethod(services.wallet_bonus)

    @wallet_route(summary="Credit a bonus to a user's wallet", conflict=CREDIT_CONFLICT,
                  examples=[s.BONUS_EXAMPLE, s.BONUS_RESPONSE_EXAMPLE])
    @idempotent(required=False, body_key="reference_id")
    def post(self, request):
        return super().post(request)


class WalletSpend(_WalletOperation):
    """Debit the user's wallet for a purchase: DR wallet / CR revenue. Spending more than the wallet
    holds (or from a currency the user has no wallet in) is 409 `insufficient_funds` and moves
    nothing. Idempotent on `reference_id` exactly like a top-up; the 409 is replayed too."""

    service = staticmethod(services.wallet_spend)

    @wallet_route(summary="Spend from a user's wallet", conflict=SPEND_CONFLICT,
                  examples=[s.SPEND_EXAMPLE, s.SPEND_RESPONSE_EXAMPLE])
    @idempotent(required=False, body_key="reference_id")
    def post(self, request):
        return super().post(request)


class WalletHoldCreate(APIView):
    """Reserve part of the user's wallet for a later spend to revenue: a hold (the shape of
    /api/v1/holds) from the wallet's account, which lowers its `available` balance and moves nothing.
    A hold beyond `available` (or in a currency the user has no wallet in) is 409
    `insufficient_funds`. Capture or void it only here, under /api/v1/wallets/holds/. Idempotent on
    `reference_id` exactly like a top-up."""

    @money_route(request=s.WalletHoldCreateSerializer, response=HoldSerializer, idempotency_required=False,
                 summary="Hold part of a user's wallet for a later spend", tags=HOLD_TAGS,
                 examples=[s.HOLD_EXAMPLE, s.HOLD_RESPONSE_EXAMPLE],
                 extra_responses={400: IDEMPOTENCY_INVALID, 409: HOLD_CONFLICT})
    @idempotent(required=False, body_key="reference_id")
    def post(self, request):
        data = validated(s.WalletHoldCreateSerializer, request.data)
        hold = services.wallet_hold_create(
            owner=request_owner(request), user_id=data["user_id"], amount=data["amount"], currency=data["currency"],
            reference=data["reference_id"], expires_in=data["expires_in"], description=data["description"],
        )
        return Response(hold_body(hold), status=201)


class WalletHoldCapture(APIView):
    """Spend what a wallet hold reserved: `amount` (default: the whole hold) moves DR wallet / CR
    revenue as one wallet transaction of type "spend" (its reference_id the hold's); the rest is
    released. Requires an Idempotency-Key."""

    @money_route(request=HoldCaptureSerializer, response=s.WalletHoldCaptureResultSerializer,
                 summary="Capture a wallet hold: spend it (default: all), release the rest", tags=HOLD_TAGS,
                 extra_responses={400: KEY_MISSING, 404: HOLD_NOT_FOUND, 409: HOLD_NOT_ACTIVE})
    @idempotent()
    def post(self, request, hold_id):
        data = validated(HoldCaptureSerializer, request.data)
        hold, spend = services.wallet_hold_capture(hold_id=hold_id, amount=data.get("amount"),
                                                   owner=visible_owner(request))
        return Response({"hold": hold_body(hold), "transaction": wallet_transaction_body(spend)}, status=201)


class WalletHoldVoid(APIView):
    """Release a wallet hold whole: nothing moves, and the wallet's `available` is its balance again."""

    @money_route(request=HoldVoidSerializer, response=HoldVoidResultSerializer, idempotency_required=False,
                 summary="Void a wallet hold: release it all, nothing moves", tags=HOLD_TAGS,
                 extra_responses={200: HoldVoidResultSerializer, 400: IDEMPOTENCY_INVALID, 404: HOLD_NOT_FOUND,
                                  409: HOLD_NOT_ACTIVE})
    @idempotent(required=False)
    def post(self, request, hold_id):
        validated(HoldVoidSerializer, request.data)
        hold = services.wallet_hold_void(hold_id=hold_id, owner=visible_owner(request))
        return Response({"hold": hold_body(hold)}, status=200)


class WalletBalance(APIView):
    """The user's wallets under your API client, one per currency, with balances in minor units and
    what is `available` of them (the balance less active holds). `total_balance` is the balance when
    the user holds exactly one currency, else null. A user without any wallet (or another client's
    user) is 404, and so is a user_id no wallet can have (one with a control or zero-width character).
    Send a `/` in a user_id as `%2F`; a user_id is compared in Unicode NFC, as it was stored."""

    @extend_schema(examples=[s.BALANCE_EXAMPLE])
    @read_route(response=s.WalletBalanceSerializer, summary="A user's wallet balances, per currency", tags=TAGS)
    def get(self, request, user_id):
        normalised = normalise_identifier(user_id)
        if normalised is None:
            raise WalletNotFound(f"User {user_id[:64]!r} has no wallet: a user_id holds only printable characters.")
        balances = selectors.wallet_balances(user_id=normalised, owner=visible_owner(request))
        return Response(s.WalletBalanceSerializer({
            "user_id": balances.user_id, "total_balance": balances.total_balance, "totals": balances.totals,
            "available_totals": balances.available_totals, "accounts": balances.accounts,
        }).data)
