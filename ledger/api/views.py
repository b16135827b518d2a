"""Accounts, deposits, withdrawals, transfers, reversals, holds and statements. Thin: parse, call a service,
render."""

from datetime import UTC, datetime
from uuid import UUID

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import selectors, services
from ledger.bodies import (
    account_as_of_body,
    account_body,
    hold_body,
    movement_body,
    reversal_body,
    statement_entry,
    transfer_body,
    trial_balance_body,
)
from ledger.currencies import currency_exponent
from ledger.exceptions import UnknownCurrency
from ledger.models import HoldStatus
from mintguard_site.api.auth import request_owner, visible_owner
from mintguard_site.api.errors import InvalidParameter
from mintguard_site.api.idempotency import idempotent
from mintguard_site.api.models import ApiClient
from mintguard_site.api.pagination import decode_cursor, encode_cursor, newest_first, page_of, parse_limit
from mintguard_site.api.renderers import OrjsonRenderer, json_bytes
from mintguard_site.api.schema import LIST_PARAMETERS, money_route, problem, read_route
from mintguard_site.api.serializers import validated
from mintguard_site.csv_export import csv_response

from . import serializers as s

TAGS = ["accounts"]


class AccountListCreate(APIView):
    @read_route(response=s.AccountListSerializer, summary="List your accounts, newest first",
                parameters=LIST_PARAMETERS, tags=TAGS, operation_id="accounts_list")
    def get(self, request):
        limit = parse_limit(request)
        position = decode_cursor(request, "accounts", size=2)
        accounts = selectors.accounts_page(owner=visible_owner(request), limit=limit + 1, after=position)
        page, next_cursor = page_of(accounts, scope="accounts", limit=limit, position=newest_first)
        return Response({"results": [account_body(a) for a in page], "next_cursor": next_cursor})

    @money_route(request=s.AccountCreateSerializer, response=s.AccountSerializer, summary="Open an account",
                 idempotency_required=False, tags=TAGS)
    @idempotent(required=False)
    def post(self, request):
        data = validated(s.AccountCreateSerializer, request.data)
        account = services.account_create(owner=request_owner(request), name=data["owner_name"],
                                          currency=data["currency"])
        account = selectors.account_get(account_id=account.id)
        return Response(account_body(account), status=201)


def query_instant(request, name: str) -> datetime | None:
    """The instant in `?<name>=` (ISO 8601 with a timezone) in UTC, None when absent; else 400 invalid_parameter."""
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    # A "+" sent unescaped in a query string arrives as a space: "2026-11-30T23:59:59 02:00".
    text = raw.replace(" ", "+") if raw.count(" ") == 1 and "T" in raw else raw
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 64 else None
        if moment is not None and moment.utcoffset() is not None:
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise InvalidParameter(f"{name} must be an ISO 8601 timestamp with a timezone, e.g. 2026-11-30T23:59:59Z.")


AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATETIME, description=(
    "The balance as it stood at this instant (ISO 8601 with a timezone): every posting at or before it counts."))
STATEMENT_WINDOW = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="Entries posted at or after this instant."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="Entries posted at or before this instant."),
]


class AccountDetail(APIView):
    @read_route(response=s.AccountAsOfSerializer, summary="Get an account with its balance, now or as of an instant",
                parameters=[AS_OF], tags=TAGS)
    def get(self, request, account_id):
        as_of = query_instant(request, "as_of")
        account = selectors.account_get(account_id=account_id, owner=visible_owner(request))
        if as_of is None:
            return Response(account_body(account))
        balance = selectors.account_balance_as_of(account=account, as_of=as_of)
        available = balance - selectors.account_held_as_of(account=account, as_of=as_of)
        return Response(account_as_of_body(account, as_of=as_of, balance=balance, available=available))


class _AccountMovement(APIView):
    """Deposit or withdrawal: one service against the account's currency's cash account."""

    service = None

    def post(self, request, account_id):
        data = validated(s.MoneyMovementSerializer, request.data)
        # The posting finds the account (404 if it is not the client's) and returns it with its balance.
        txn = type(self).service(
            account_id=account_id, amount=data["amount"], description=data["description"],
            reference=request.idempotency_key, owner=request_owner(request), accounts_owner=visible_owner(request),
        )
        return Response(movement_body(txn), status=201)


class AccountDeposit(_AccountMovement):
    service = staticmethod(services.deposit)

    @money_route(request=s.MoneyMovementSerializer, response=s.AccountMovementSerializer,
                 summary="Deposit into an account (DR cash / CR account)", tags=TAGS)
    @idempotent()
    def post(self, request, account_id):
        return super().post(request, account_id)


class AccountWithdraw(_AccountMovement):
    service = staticmethod(services.withdraw)

    @money_route(request=s.MoneyMovementSerializer, response=s.AccountMovementSerializer,
                 summary="Withdraw from an account (409 insufficient_funds if it would go negative)", tags=TAGS)
    @idempotent()
    def post(self, request, account_id):
        return super().post(request, account_id)


class AccountStatement(APIView):
    @read_route(response=s.StatementSerializer, summary="Statement, newest first, cursor-paged, optionally a window",
                parameters=[*LIST_PARAMETERS, *STATEMENT_WINDOW], tags=TAGS)
    def get(self, request, account_id):
        limit = parse_limit(request)
        start, end = query_instant(request, "from"), query_instant(request, "to")
        if start is not None and end is not None and start > end:
            raise InvalidParameter("from must not be after to.")
        account = selectors.account_get(account_id=account_id, owner=visible_owner(request))
        window = None
        if start is not None or end is not None:
            window = selectors.statement_window(account=account, start=start, end=end)
        scope = f"statement:{account.id}"
        page, position = selectors.statement_page(account=account, limit=limit,
                                                  before=decode_cursor(request, scope, size=1), window=window)
        next_cursor = encode_cursor(scope, position) if position else None
        return Response({
            "entries": [statement_entry(p) for p in page], "next_cursor": next_cursor,
            "opening_balance": window.opening_balance if window else 0,
            "closing_balance": window.closing_balance if window else account.balance,
        })


class TransferCreate(APIView):
    @money_route(request=s.TransferCreateSerializer, response=s.TransferSerializer,
                 summary="Transfer between two of your accounts in one currency",
                 examples=[s.TRANSFER_EXAMPLE], tags=["transfers"])
    @idempotent()
    def post(self, request):
        data = validated(s.TransferCreateSerializer, request.data)
        # One call finds both accounts (404 unless they are the client's), checks and posts.
        txn = services.transfer_create(
            source_id=data["source_account_id"], destination_id=data["destination_account_id"],
            amount=data["amount"], description=data["description"], reference=request.idempotency_key,
            owner=request_owner(request), accounts_owner=visible_owner(request),
        )
        return Response(transfer_body(txn), status=201)


class TransferBatchCreate(APIView):
    max_body_bytes = 2 * 1024 * 1024  # 1,000 transfers with long descriptions

    @money_route(request=s.TransferBatchCreateSerializer, response=s.TransferBatchSerializer,
                 summary="Post up to 1,000 transfers all-or-nothing, idempotent as a whole",
                 examples=[s.TRANSFER_BATCH_EXAMPLE], tags=["transfers"])
    @idempotent()
    def post(self, request):
        orders = validated(s.TransferBatchCreateSerializer, request.data)["transfers"]
        transactions = services.transfers_create(
            transfers=[
                services.NewTransfer(source_id=order["source_account_id"],
                                       destination_id=order["destination_account_id"],
                                       amount=order["amount"], description=order["description"])
                for order in orders
            ],
            reference=request.idempotency_key, owner=request_owner(request), accounts_owner=visible_owner(request),
        )
        return Response({"count": len(transactions), "transfers": [transfer_body(t) for t in transactions]},
                        status=201)


class TransferDetail(APIView):
    @read_route(response=s.TransferSerializer, summary="Get a transfer", tags=["transfers"])
    def get(self, request, transfer_id):
        return Response(transfer_body(selectors.transfer_get(transfer_id=transfer_id, owner=visible_owner(request))))


NOT_REVERSIBLE = problem("Not a deposit, withdrawal or transfer of yours (`not_reversible`), reversed before "
                         "(`already_reversed`), or the money is no longer there (`insufficient_funds`)",
                         "already_reversed", 409)


class TransactionReverse(APIView):
    operator_permission = "ledger.reverse_transaction"  # operators may reverse through the browsable API

    @money_route(request=s.ReversalCreateSerializer, response=s.ReversalSerializer,
                 summary="Reverse a deposit, withdrawal or transfer: post its exact opposite legs, once",
                 extra_responses={409: NOT_REVERSIBLE}, tags=["transactions"])
    @idempotent()
    def post(self, request, transaction_id):
        description = validated(s.ReversalCreateSerializer, request.data)["description"]
        if isinstance(request.user, ApiClient):
            txn = services.transaction_reverse(transaction_id=transaction_id, owner=visible_owner(request),
                                               description=description)
        else:  # an operator in the browsable API: the same audited action as the dashboard's
            txn = services.operator_transaction_reverse(transaction_id=transaction_id, user=request.user,
                                                        note=description or "Reversed through the API.",
                                                        description=description)
        return Response(reversal_body(txn), status=201)


HOLD_TAGS = ["holds"]
HOLD_NOT_ACTIVE = problem("The hold was captured, voided or expired (`hold_not_active`, `hold_expired`), "
                          "or the capture exceeds it (`capture_exceeds_hold`)", "hold_not_active", 409)
HOLD_LIST_PARAMETERS = [
    *LIST_PARAMETERS,
    OpenApiParameter("status", OpenApiTypes.STR, enum=HoldStatus.values, description="Status as of now."),
    OpenApiParameter("account_id", OpenApiTypes.UUID, description="Holds on this account, either side."),
]


class HoldListCreate(APIView):
    @read_route(response=s.HoldListSerializer, summary="List your holds, newest first",
                parameters=HOLD_LIST_PARAMETERS, tags=HOLD_TAGS, operation_id="holds_list")
    def get(self, request):
        limit = parse_limit(request)
        status = request.query_params.get("status") or None
        if status is not None and status not in HoldStatus.values:
            raise InvalidParameter(f"status must be one of {', '.join(HoldStatus.values)}.")
        account_id = request.query_params.get("account_id") or None
        if account_id is not None:
            try:
                account_id = UUID(account_id)
            except ValueError:
                raise InvalidParameter("account_id must be an account's id (a UUID).") from None
        position = decode_cursor(request, "holds", size=2)
        holds = selectors.holds_page(owner=visible_owner(request), limit=limit + 1, after=position, status=status,
                                     account_id=account_id)
        page, next_cursor = page_of(holds, scope="holds", limit=limit, position=newest_first)
        return Response({"results": [hold_body(h) for h in page], "next_cursor": next_cursor})

    @money_route(request=s.HoldCreateSerializer, response=s.HoldSerializer,
                 summary="Reserve money on one of your accounts for a later transfer (409 insufficient_funds "
                         "beyond its available balance)", tags=HOLD_TAGS)
    @idempotent()
    def post(self, request):
        data = validated(s.HoldCreateSerializer, request.data)
        hold = services.hold_create(
            source_id=data["source_account_id"], destination_id=data["destination_account_id"],
            amount=data["amount"], expires_in=data["expires_in"], description=data["description"],
            owner=request_owner(request), accounts_owner=visible_owner(request),
        )
        return Response(hold_body(hold), status=201)


class HoldDetail(APIView):
    @read_route(response=s.HoldSerializer, summary="Get a hold", tags=HOLD_TAGS)
    def get(self, request, hold_id):
        return Response(hold_body(selectors.hold_get(hold_id=hold_id, owner=visible_owner(request))))


class HoldCapture(APIView):
    @money_route(request=s.HoldCaptureSerializer, response=s.HoldCaptureResultSerializer,
                 summary="Capture a hold: one transfer of the amount (default: all); the rest is released",
                 extra_responses={409: HOLD_NOT_ACTIVE}, tags=HOLD_TAGS)
    @idempotent()
    def post(self, request, hold_id):
        data = validated(s.HoldCaptureSerializer, request.data)
        hold, txn = services.hold_capture(hold_id=hold_id, amount=data.get("amount"), owner=visible_owner(request))
        return Response({"hold": hold_body(hold), "transfer": transfer_body(txn)}, status=201)


class HoldVoid(APIView):
    @money_route(request=s.HoldVoidSerializer, response=s.HoldVoidResultSerializer,
                 summary="Void a hold: release it all, nothing moves", idempotency_required=False,
                 extra_responses={200: s.HoldVoidResultSerializer, 409: HOLD_NOT_ACTIVE}, tags=HOLD_TAGS)
    @idempotent(required=False)
    def post(self, request, hold_id):
        validated(s.HoldVoidSerializer, request.data)
        hold = services.hold_void(hold_id=hold_id, owner=visible_owner(request))
        return Response({"hold": hold_body(hold)}, status=200)


class TrialBalanceCSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` and `?format=csv` through DRF's negotiation: the view streams the CSV
    itself, so only a refusal (problem+json) is ever rendered here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json_bytes(data) or JSONRenderer().render(data)


TRIAL_BALANCE_PARAMETERS = [
    OpenApiParameter("as_of", OpenApiTypes.DATETIME, description="Balances at this instant (default: now)."),
    OpenApiParameter("currency", OpenApiTypes.STR, description="One currency's book only."),
    OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"],
                     description="`csv`: the same rows as CSV (as `Accept: text/csv`)."),
]


class TrialBalance(APIView):
    renderer_classes = [OrjsonRenderer, TrialBalanceCSVRenderer, BrowsableAPIRenderer]

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to a `?format=` no renderer has
            raise InvalidParameter("format must be json or csv.") from None

    @read_route(response=OpenApiResponse(s.TrialBalanceSerializer), parameters=TRIAL_BALANCE_PARAMETERS,
                summary="Trial balance: every account's balance at an instant, debits and credits per currency",
                tags=["ledger"])
    def get(self, request):
        as_of = query_instant(request, "as_of")
        currency = request.query_params.get("currency") or None
        if currency is not None:
            try:
                currency_exponent(currency)
            except UnknownCurrency:
                raise InvalidParameter("currency must be an ISO 4217 code or a configured asset.") from None
        tb = selectors.trial_balance(as_of=as_of, currency=currency, owner=visible_owner(request))
        if request.accepted_renderer.format == TrialBalanceCSVRenderer.format:
            return csv_response(f"trial-balance-{tb.as_of:%Y%m%dT%H%M%SZ}.csv", selectors.TRIAL_BALANCE_CSV_HEADER,
                                selectors.trial_balance_csv_rows(tb))
        return Response(trial_balance_body(tb))
