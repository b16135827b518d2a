"""Orders, pay, checkout, refunds, provider webhooks, an order's ledger entries and the ledger summary.

Thin: parse, call one service, render.
"""

import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.selectors import ledger_summary
from mintguard_site.api.auth import request_owner, visible_owner
from mintguard_site.api.errors import ApiError, InvalidParameter
from mintguard_site.api.idempotency import idempotent
from mintguard_site.api.models import ApiClient
from mintguard_site.api.pagination import decode_cursor, newest_first, page_of, parse_limit
from mintguard_site.api.parsers import BoundedJSONParser, refuse_oversized_body
from mintguard_site.api.schema import BAD_REQUEST, INVALID, LIST_PARAMETERS, money_route, problem, read_route
from mintguard_site.api.serializers import NAME_MAX, normalise_identifier, representation, validated
from mintguard_site.ratelimit import webhook_failure_hit
from payments import selectors, services, webhooks
from payments.bodies import order_body, payment_body, refund_body
from payments.exceptions import WebhookSignatureInvalid
from payments.models import Order, OrderStatus, WebhookResult
from payments.providers import get_provider
from payments.providers.simulator import SIMULATIONS

from . import serializers as s

TAGS = ["orders"]
SIMULATE_HEADER = "X-Provider-Simulate"


_checkout = representation(s.CheckoutResponseSerializer)


def pay_body(result: services.PayResult) -> dict:
    """The answer of pay, authorize, capture and void: the order and the payment, as they left them."""
    return {"order": order_body(result.order), "payment": payment_body(result.payment)}


def checkout_body(order: Order) -> dict:
    return _checkout({
        "order_id": order.id, "status": order.status, "ready_to_ship": order.status == OrderStatus.PAID,
        "failure_reason": order.failure_reason or None,
    })


def provider_simulation(request) -> str | None:
    """Return the outcome the request forces on the simulated provider; ignored for a real one."""
    value = request.headers.get(SIMULATE_HEADER)
    if value is None or not get_provider().accepts_simulation:
        return None
    if value not in SIMULATIONS:
        raise InvalidParameter(f"{SIMULATE_HEADER} must be one of {', '.join(sorted(SIMULATIONS))}.")
    return value


ORDER_FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=OrderStatus.values, description="Only orders in this status."),
    OpenApiParameter("user_id", OpenApiTypes.STR, description="Only this buyer's orders."),
]
SIMULATE_PARAMETER = OpenApiParameter(
    SIMULATE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, enum=sorted(SIMULATIONS),
    description="Simulated provider only (ignored by a real one): force the charge's outcome. `timeout` waits "
                "MINTGUARD_PROVIDER_TIMEOUT and, like `outage`, counts as the provider being unavailable.",
)
def conflicts(description: str, *codes: str) -> OpenApiResponse:
    """A 409 documented with an example of each code a client may branch on (the first is the usual one)."""
    response = problem(description, codes[0], 409)
    response.examples = [example for code in codes for example in problem(description, code, 409).examples]
    return response


NOT_PAYABLE = conflicts(
    "Conflict: order_not_payable (paid, pending, authorized, canceled, refunded, or a payment in progress), "
    "idempotency_key_reused (also: the key already started the other kind of attempt, a pay or an authorization), "
    "idempotency_key_in_use", "order_not_payable", "idempotency_key_reused", "idempotency_key_in_use",
)
WEBHOOK_UNAUTHORIZED = problem("Missing or bad signature, or a stale timestamp", "invalid_webhook_signature", 401)
WEBHOOK_THROTTLED = problem(
    "Too many failed signatures from this address (MINTGUARD_WEBHOOK_FAILURE_RATE); with Retry-After. "
    "A valid signature is still accepted.", "rate_limited", 429,
)
CHECKOUT_CONFLICT = problem(
    "Conflict: idempotency_key_reused (same key, another body), idempotency_key_in_use", "idempotency_key_reused", 409,
)
NOT_REFUNDABLE = problem(
    "Conflict: order_not_refundable (not paid, or fully refunded), refund_exceeds_remaining, "
    "idempotency_key_reused, idempotency_key_in_use", "refund_exceeds_remaining", 409,
)


class OrderListCreate(APIView):
    @extend_schema(examples=[s.ORDER_LIST_EXAMPLE])
    @read_route(response=s.OrderListSerializer, summary="List your orders, newest first",
                parameters=[*LIST_PARAMETERS, *ORDER_FILTERS], tags=TAGS, operation_id="orders_list")
    def get(self, request):
        limit = parse_limit(request)
        status = request.query_params.get("status")
        if status is not None and status not in OrderStatus.values:
            raise InvalidParameter(f"status must be one of {', '.join(OrderStatus.values)}.")
        user_id = request.query_params.get("user_id")
        if user_id is not None:  # compared as stored: NFC, printable (mintguard_site.api.serializers)
            user_id = normalise_identifier(user_id)
            if user_id is None or len(user_id) > NAME_MAX:
                raise InvalidParameter(f"user_id is at most {NAME_MAX} printable characters.")
        position = decode_cursor(request, "orders", size=2)
        orders = selectors.orders_page(
            owner=visible_owner(request), limit=limit + 1, after=position,
            status=status, user_id=user_id,
        )
        page, next_cursor = page_of(orders, scope="orders", limit=limit, position=newest_first)
        return Response({"results": [order_body(o) for o in page], "next_cursor": next_cursor})

    @money_route(request=s.OrderCreateSerializer, response=s.OrderSerializer, summary="Create an order",
                 examples=[s.ORDER_CREATE_EXAMPLE, s.ORDER_EXAMPLE], idempotency_required=False, tags=TAGS)
    @idempotent(required=False)
    def post(self, request):
        data = validated(s.OrderCreateSerializer, request.data)
        order = services.order_create(
            owner=request_owner(request), user_id=data["user_id"], amount=data["amount"],
            currency=data["currency"], seller_id=data["seller_id"], description=data["description"],
        )
        return Response(order_body(order), status=201)


class OrderDetail(APIView):
    @extend_schema(examples=[s.ORDER_EXAMPLE])
    @read_route(response=s.OrderSerializer, summary="Get an order", tags=TAGS)
    def get(self, request, order_id):
        return Response(order_body(selectors.order_get(order_id=order_id, owner=visible_owner(request))))


class OrderPay(APIView):
    @extend_schema(parameters=[SIMULATE_PARAMETER])
    @money_route(
        request=s.PayRequestSerializer, response=s.PayResponseSerializer,
        summary="Pay an order (a decline is still 201, with payment and order FAILED)",
        examples=[s.PAY_REQUEST_EXAMPLE, s.PAY_RESPONSE_EXAMPLE], extra_responses={409: NOT_PAYABLE}, tags=TAGS,
    )
    # Not atomic: the provider is called between two short transactions (see payments.services.pay).
    @idempotent(atomic=False)
    def post(self, request, order_id):
        data = validated(s.PayRequestSerializer, request.data)
        # The order is found, its owner checked and its row locked in one statement (step 1).
        result = services.order_pay(
            order_id=order_id, owner=visible_owner(request), idempotency_key=request.idempotency_key,
            buyer_trust=data.get("buyer_trust"), simulate=provider_simulation(request),
        )
        return Response(pay_body(result), status=201)


class Checkout(APIView):
    @extend_schema(parameters=[SIMULATE_PARAMETER])
    @money_route(
        request=s.CheckoutRequestSerializer, response=s.CheckoutResponseSerializer,
        summary="Create an order and pay it in one call (PAID, FAILED, or PENDING_PAYMENT while the provider is down)",
        examples=[s.CHECKOUT_REQUEST_EXAMPLE, s.CHECKOUT_PAID_EXAMPLE, s.CHECKOUT_PENDING_EXAMPLE,
                  s.CHECKOUT_FAILED_EXAMPLE],
        extra_responses={409: CHECKOUT_CONFLICT}, tags=["checkout"],
    )
    # Not atomic: the order and its payment attempt commit first (the recovery point, keyed by the
    # Idempotency-Key), then the provider is called with no transaction open (see payments.services.pay).
    @idempotent(atomic=False)
    def post(self, request):
        data = validated(s.CheckoutRequestSerializer, request.data)
        result = services.checkout_create(
            owner=request_owner(request), checkout_key=request.idempotency_key, buyer_id=data["buyer_id"],
            seller_id=data["seller_id"], amount=data["amount"], currency=data["currency"],
            buyer_trust=data["buyer_trust"], simulate=provider_simulation(request),
        )
        return Response(checkout_body(result.order), status=201)


class WebhookUnauthorized(ApiError):
    status, code, title = 401, "invalid_webhook_signature", "Invalid webhook signature"


WEBHOOK_HEADERS = [
    OpenApiParameter(webhooks.ID_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                     description="The delivery's id (Standard Webhooks); part of the signed content."),
    OpenApiParameter(webhooks.TIMESTAMP_HEADER, OpenApiTypes.INT, OpenApiParameter.HEADER, required=True,
                     description="Unix seconds when it was signed; refused beyond 5 minutes of our clock."),
    OpenApiParameter(
        webhooks.SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
        description="`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{raw body}\">`, keyed with the "
                    "base64-decoded part of a `whsec_...` secret (MINTGUARD_PROVIDER_WEBHOOK_SECRET, comma-separated "
                    "for rotation). Several signatures may be sent, space-separated; one valid one is enough.",
    ),
]


class ProviderWebhook(APIView):
    """The payment provider's events. No API key: the Standard Webhooks signature is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Receive a provider event (signed; each event_id takes effect once)",
        description=(
            "Signed per Standard Webhooks and verified over the raw body before it is parsed. The body's "
            "`event_id` is the dedupe key: a second delivery answers `duplicate: true` and changes nothing. "
            "PAID pays a PENDING_PAYMENT order, or one FAILED only because the provider was unavailable, and "
            "books the ledger once; PAID for a paid order, FAILED after PAID and unknown orders are "
            "acknowledged and recorded for operators, never posted. FAILED fails a PENDING_PAYMENT order. "
            "Failed signatures are budgeted per client IP (MINTGUARD_WEBHOOK_FAILURE_RATE): beyond it they get "
            "429 and are not stored; a valid signature is never refused by that budget."
        ),
        request=s.ProviderWebhookSerializer, auth=[], parameters=WEBHOOK_HEADERS, tags=["webhooks"],
        responses={200: s.WebhookAckSerializer, 400: BAD_REQUEST, 401: WEBHOOK_UNAUTHORIZED, 422: INVALID,
                   429: WEBHOOK_THROTTLED},
        examples=[s.WEBHOOK_EXAMPLE, s.WEBHOOK_ACK_EXAMPLE, s.WEBHOOK_DUPLICATE_EXAMPLE],
    )
    def post(self, request):
        refuse_oversized_body(request)
        body = request.body  # the raw bytes that were signed: read before anything parses them
        try:
            services.provider_webhook_authenticate(headers=request.headers, body=body)
        except WebhookSignatureInvalid as exc:
            # Verified first, counted only when it fails: the provider's deliveries pass whatever
            # else its address sent. Beyond the budget nothing is stored, so junk costs no rows.
            over, retry_after = webhook_failure_hit(request)
            if over:
                raise Throttled(retry_after, detail="Too many failed webhook signatures from this address.") from None
            services.provider_webhook_refuse(headers=request.headers, body=body, detail=exc.detail)
            raise WebhookUnauthorized(exc.detail) from None
        try:
            # Parsed as every other body is (strict, nesting bounded), whatever its Content-Type.
            data = BoundedJSONParser().parse(io.BytesIO(body), parser_context={"request": request, "view": self})
            event = validated(s.ProviderWebhookSerializer, data)
        except (ParseError, ValidationError) as exc:
            services.provider_webhook_reject(
                headers=request.headers, body=body, result=WebhookResult.REJECTED_INVALID, detail=str(exc.detail),
            )
            raise
        receipt = services.provider_webhook_receive(
            headers=request.headers, body=body, event_id=event["event_id"], order_ref=event["order_id"],
            outcome=event["outcome"],
        )
        return Response({"ok": True, "duplicate": receipt.duplicate}, status=200)


class OrderRefund(APIView):
    operator_permission = "payments.refund_order"  # operators may refund through the browsable API

    @money_route(
        request=s.RefundRequestSerializer, response=s.RefundResponseSerializer,
        summary="Refund part or all of a paid order (409 refund_exceeds_remaining, order_not_refundable)",
        examples=[s.REFUND_REQUEST_EXAMPLE, s.REFUND_RESPONSE_EXAMPLE], extra_responses={409: NOT_REFUNDABLE},
        tags=TAGS,
    )
    @idempotent()
    def post(self, request, order_id):
        data = validated(s.RefundRequestSerializer, request.data)
        order = selectors.order_get(order_id=order_id, owner=visible_owner(request))
        if isinstance(request.user, ApiClient):
            refund, _ = services.refund_create(
                order_id=order.pk, amount=data.get("amount"), reason=data["reason"],
                created_by=request_owner(request), idempotency_key=request.idempotency_key,
            )
        else:  # an operator in the browsable API: the same audited action as the dashboard's
            refund = services.operator_refund(
                actor=request.user, order_id=order.pk, amount=data.get("amount"), reason=data["reason"],
                idempotency_key=request.idempotency_key,
            ).refund
        return Response({"refund": refund_body(refund), "order": order_body(refund.order)}, status=201)


class OrderLedger(APIView):
    @extend_schema(examples=[s.ORDER_LEDGER_EXAMPLE])
    @read_route(response=s.OrderLedgerSerializer, summary="The ledger entries of an order's payment and refunds",
                tags=TAGS)
    def get(self, request, order_id):
        order = selectors.order_get(order_id=order_id, owner=visible_owner(request))
        entries = selectors.order_ledger_entries(order=order)
        return Response(s.OrderLedgerSerializer({"order_id": order.id, "entries": entries}).data)


class LedgerSummary(APIView):
    @extend_schema(examples=[s.LEDGER_SUMMARY_EXAMPLE])
    @read_route(
        response=s.LedgerSummarySerializer, tags=["ledger"],
        summary="Debits and credits per currency and account over the whole ledger (balanced: debits == credits)",
    )
    def get(self, request):
        return Response(s.LedgerSummarySerializer(ledger_summary(owner=visible_owner(request))).data)
