"""OpenAPI pieces every route shares: the problem schema, the Idempotency-Key header, errors."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from .errors import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case error code clients branch on.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Per-field messages, on validation errors (422).",
    )


def idempotency_header(required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=required,
        description=(
            "1-255 printable ASCII characters, scoped to your API client. A retry with the same key and "
            "body replays the stored response (header `Idempotent-Replayed: true`); another body is 409 "
            "`idempotency_key_reused`; a request still running is 409 `idempotency_key_in_use`."
        ),
    )


def problem(description: str, code: str, status: int) -> OpenApiResponse:
    return OpenApiResponse(
        ProblemSerializer,
        description=description,
        examples=[OpenApiExample(code, value={
            "type": f"/problems/{code.replace('_', '-')}", "title": description, "status": status,
            "detail": description, "code": code,
        }, response_only=True, status_codes=[str(status)])],
    )


UNAUTHORIZED = problem("Missing, unknown or revoked API key", "not_authenticated", 401)
SCOPE_DENIED = problem("The API key lacks the scope this route needs", "scope_denied", 403)
NOT_FOUND = problem("No such resource (or it belongs to another client)", "not_found", 404)
INVALID = problem("Body fails validation", "validation_error", 422)
BAD_REQUEST = problem("Invalid input that parses (bad cursor or limit, self-transfer...)", "invalid_parameter", 400)
CONFLICT = problem(
    "Conflict: insufficient funds, idempotency key reused or in use, invalid state", "insufficient_funds", 409
)

LIST_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="Page size, 1..200 (default 50)."),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
]


def money_route(*, request, response, summary: str, examples=(), idempotency_required: bool = True,
                extra_responses: dict | None = None, tags=None):
    """Document a POST that moves money: idempotency header, 201 body and every error."""
    responses = {201: response, 400: BAD_REQUEST, 401: UNAUTHORIZED, 403: SCOPE_DENIED, 404: NOT_FOUND, 409: CONFLICT,
                 422: INVALID}
    responses.update(extra_responses or {})
    return extend_schema(
        summary=summary, request=request, responses=responses, examples=list(examples), tags=tags,
        parameters=[idempotency_header(idempotency_required)],
    )


def read_route(*, response, summary: str, parameters=(), tags=None, operation_id: str | None = None):
    return extend_schema(
        summary=summary,
        responses={200: response, 400: BAD_REQUEST, 401: UNAUTHORIZED, 403: SCOPE_DENIED, 404: NOT_FOUND},
        parameters=list(parameters), tags=tags, operation_id=operation_id,
    )


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "mintguard_site.api.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer",
            "description": "API key from `manage.py create_api_key`: `Authorization: Bearer <api-key>`.",
        }



def problem_media_type(result, generator, request, public):
    """Postprocessing hook: document every error response as `application/problem+json`.

    That is what the one exception handler serves; drf-spectacular would otherwise document error
    bodies as `application/json`, and a client that checks the content type against the schema
    (schemathesis does) finds every error undocumented.
    """
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                # Errors are problem+json whatever the route renders otherwise (the CSV of the trial
                # balance too): the one exception handler writes them all.
                if str(status).startswith(("4", "5")) and "application/json" in content:
                    response["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
    return result
