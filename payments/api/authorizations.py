"""Authorize now, capture later: authorize, capture and void an order. Thin: parse, call one service, render.

Each calls the payment provider with no transaction open (`payments.services.authorizations`), so
none is atomic: the service commits its own recovery point first.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from mintguard_site.api.auth import visible_owner
from mintguard_site.api.idempotency import idempotent
from mintguard_site.api.schema import (
    BAD_REQUEST,
    INVALID,
    NOT_FOUND,
    SCOPE_DENIED,
    UNAUTHORIZED,
    idempotency_header,
    money_route,
)
from mintguard_site.api.serializers import validated
from payments import services
from payments.providers.simulator import SIMULATIONS

from . import serializers as s
from .views import NOT_PAYABLE, SIMULATE_HEADER, SIMULATE_PARAMETER, TAGS, conflicts, pay_body, provider_simulation

CLOSE_SIMULATE_PARAMETER = OpenApiParameter(
    SIMULATE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, enum=sorted(SIMULATIONS),
    description="Simulated provider only (ignored by a real one): `timeout` or `outage` makes the provider "
                "unavailable (409 provider_unavailable, nothing changes). `success` and `decline` change nothing: "
                "the funds of an open authorization are held, so its capture or void is not declined.",
)
NOT_CAPTURABLE = conflicts(
    "Conflict: order_not_capturable (not AUTHORIZED: already captured, voided, never authorized; or another "
    "capture or a void in progress), authorization_expired (not captured within MINTGUARD_AUTHORIZATION_TTL), "
    "capture_exceeds_authorization (more than the authorized amount), provider_unavailable (nothing changed: "
    "retry with a new key), idempotency_key_reused, idempotency_key_in_use",
    "order_not_capturable", "authorization_expired", "capture_exceeds_authorization", "provider_unavailable",
    "idempotency_key_reused", "idempotency_key_in_use",
)
NOT_VOIDABLE = conflicts(
    "Conflict: order_not_voidable (not AUTHORIZED: already captured, voided, never authorized; or a capture in "
    "progress), authorization_expired (it released itself: not captured within MINTGUARD_AUTHORIZATION_TTL), "
    "provider_unavailable (nothing changed: retry), idempotency_key_reused, idempotency_key_in_use",
    "order_not_voidable", "authorization_expired", "provider_unavailable", "idempotency_key_reused",
    "idempotency_key_in_use",
)


class OrderAuthorize(APIView):
    @extend_schema(parameters=[SIMULATE_PARAMETER])
    @money_route(
        request=s.PayRequestSerializer, response=s.PayResponseSerializer,
        summary="Authorize an order: hold the funds now, capture later (nothing is booked; a decline is still 201)",
        examples=[s.PAY_REQUEST_EXAMPLE, s.AUTHORIZE_RESPONSE_EXAMPLE], extra_responses={409: NOT_PAYABLE},
        tags=TAGS,
    )
    # Not atomic: pay's flow, the provider called between two short transactions (payments.services.pay).
    @idempotent(atomic=False)
    def post(self, request, order_id):
        data = validated(s.PayRequestSerializer, request.data)
        result = services.order_authorize(
            order_id=order_id, owner=visible_owner(request), idempotency_key=request.idempotency_key,
            buyer_trust=data.get("buyer_trust"), simulate=provider_simulation(request),
        )
        return Response(pay_body(result), status=201)


class OrderCapture(APIView):
    @extend_schema(parameters=[CLOSE_SIMULATE_PARAMETER])
    @money_route(
        request=s.CaptureRequestSerializer, response=s.PayResponseSerializer,
        summary="Capture part or all of an authorized order: payment SUCCEEDED, order PAID, the captured amount booked",
        examples=[s.CAPTURE_REQUEST_EXAMPLE, s.CAPTURE_RESPONSE_EXAMPLE], extra_responses={409: NOT_CAPTURABLE},
        tags=TAGS,
    )
    # Not atomic: the capture is claimed and committed first, then the provider is called with no
    # transaction open (payments.services.authorizations).
    @idempotent(atomic=False)
    def post(self, request, order_id):
        data = validated(s.CaptureRequestSerializer, request.data)
        result = services.order_capture(
            order_id=order_id, owner=visible_owner(request), amount=data.get("amount"),
            idempotency_key=request.idempotency_key, simulate=provider_simulation(request),
        )
        return Response(pay_body(result), status=201)


class OrderVoid(APIView):
    @extend_schema(
        summary="Void an authorized order: release the funds, payment VOIDED, order CANCELED, nothing booked",
        request=s.VoidRequestSerializer,
        responses={200: s.PayResponseSerializer, 400: BAD_REQUEST, 401: UNAUTHORIZED, 403: SCOPE_DENIED,
                   404: NOT_FOUND, 409: NOT_VOIDABLE, 422: INVALID},
        parameters=[idempotency_header(False), CLOSE_SIMULATE_PARAMETER], examples=[s.VOID_RESPONSE_EXAMPLE],
        tags=TAGS,
    )
    # A void has no terms, so it is safe to repeat: the key is honoured, not required.
    @idempotent(required=False, atomic=False)
    def post(self, request, order_id):
        validated(s.VoidRequestSerializer, request.data)
        result = services.order_void(
            order_id=order_id, owner=visible_owner(request), idempotency_key=request.idempotency_key,
            simulate=provider_simulation(request),
        )
        return Response(pay_body(result), status=200)
