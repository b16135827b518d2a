"""Settlement runs: the provider's settlement files as imported, with their breaks (scope `books`).

A run is the platform's books, not a client's: like the system accounts in the ledger summary,
every run is visible to operators and to every key holding `books`. A break names the provider's
reference, amount and currency only, never a client, order or buyer.
"""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from mintguard_site.api.pagination import decode_cursor, newest_first, page_of, parse_limit
from mintguard_site.api.schema import LIST_PARAMETERS, read_route
from payments import selectors
from payments.models import SettlementBreakKind, SettlementRun

TAGS = ["settlements"]


class SettlementBreakSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=SettlementBreakKind.values)
    provider_reference = serializers.CharField(
        help_text="The provider's reference; empty for a refund of ours the provider never acknowledged.")
    amount = serializers.IntegerField(help_text="Minor units: the provider's figure (ours for missing_at_provider).")
    currency = serializers.CharField()
    resolved = serializers.BooleanField(help_text="An operator resolved it on the dashboard, with a note.")


class SettlementRunSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    file_name = serializers.CharField()
    lines = serializers.IntegerField(help_text="Lines of the file, the header left out.")
    matched = serializers.IntegerField(help_text="Lines that matched a payment or refund exactly.")
    fees = serializers.IntegerField(
        help_text="Provider fees posted, minor units (DR provider_fees / CR cash, once per file); a file in "
                  "several currencies sums them here, so read fees_by_currency for those.")
    fees_by_currency = serializers.DictField(
        child=serializers.IntegerField(), help_text="Currency -> provider fees posted, minor units.")
    breaks = SettlementBreakSerializer(many=True)


class SettlementRunListSerializer(serializers.Serializer):
    results = SettlementRunSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


_RUN = {
    "id": "0b8f4c1e-2a7d-4f5e-9c3b-6d1a2e4f8b90", "created_at": "2026-01-16T06:00:00Z",
    "file_name": "settlement-2026-01-15.csv", "lines": 3, "matched": 2, "fees": 134, "fees_by_currency": {"USD": 134},
    "breaks": [{"id": "7e2d9a4b-1c3f-4a5e-8b6d-0f9e8d7c6b5a", "kind": "missing_in_ledger",
                "provider_reference": "sim_ch_4b1d0c9e8f7a6b5c4d3e2f1a", "amount": 900, "currency": "USD",
                "resolved": False}],
}
RUN_EXAMPLE = OpenApiExample("A run with one break", value=_RUN, response_only=True)
RUN_LIST_EXAMPLE = OpenApiExample("A page of runs", value={"results": [_RUN], "next_cursor": None},
                                  response_only=True)


def settlement_break_body(settlement_break) -> dict:
    return {
        "id": str(settlement_break.id), "kind": settlement_break.kind,
        "provider_reference": settlement_break.provider_reference, "amount": settlement_break.amount,
        "currency": settlement_break.currency, "resolved": settlement_break.resolved_at is not None,
    }


def settlement_run_body(run: SettlementRun) -> dict:
    """A run as the API shows it; its breaks in the order they were recorded (prefetched)."""
    return {
        "id": str(run.id), "created_at": serializers.DateTimeField().to_representation(run.created_at),
        "file_name": run.file_name, "lines": run.lines, "matched": run.matched,
        "fees": sum(run.fees.values()), "fees_by_currency": dict(run.fees),
        "breaks": [settlement_break_body(b) for b in run.breaks.all()],
    }


class SettlementList(APIView):
    @extend_schema(examples=[RUN_LIST_EXAMPLE])
    @read_route(response=SettlementRunListSerializer, summary="List settlement runs, newest first",
                parameters=LIST_PARAMETERS, tags=TAGS, operation_id="settlements_list")
    def get(self, request):
        limit = parse_limit(request)
        position = decode_cursor(request, "settlements", size=2)
        runs = selectors.settlement_runs_page(limit=limit + 1, after=position)
        page, next_cursor = page_of(runs, scope="settlements", limit=limit, position=newest_first)
        return Response({"results": [settlement_run_body(run) for run in page], "next_cursor": next_cursor})


class SettlementDetail(APIView):
    @extend_schema(examples=[RUN_EXAMPLE])
    @read_route(response=SettlementRunSerializer, summary="Get a settlement run with its breaks", tags=TAGS)
    def get(self, request, run_id):
        return Response(settlement_run_body(selectors.settlement_run_get(run_id=run_id)))
