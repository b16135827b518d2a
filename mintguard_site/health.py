"""Probes for orchestrators: /healthz (the process answers) and /readyz (it can serve traffic).

Both are public and cheap, and answer JSON; /readyz answers 503 problem+json when the database
is unreachable or has migrations this code expects but the database lacks.
"""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mintguard_site.api.errors import PROBLEM_CONTENT_TYPE, problem

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _unapplied_migrations(connection) -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


@never_cache
@require_GET
def readyz(request):
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        return _not_ready("The database is unreachable.", {"database": "unreachable", "migrations": "unknown"})
    try:
        pending = _unapplied_migrations(connection)
    except DatabaseError as exc:
        logger.warning("readiness: cannot read applied migrations: %s", exc)
        return _not_ready("The applied migrations cannot be read.", {"database": "ok", "migrations": "unknown"})
    if pending:
        return _not_ready(
            f"{len(pending)} migration(s) not applied: {', '.join(pending[:5])}.",
            {"database": "ok", "migrations": "pending"}, pending_migrations=pending,
        )
    return JsonResponse({"status": "ready", "checks": {"database": "ok", "migrations": "ok"}})


def _not_ready(detail: str, checks: dict, **extra) -> JsonResponse:
    body = {**problem(503, "not_ready", "Not ready", detail), "checks": checks, **extra}
    response = JsonResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
    response["Retry-After"] = "5"
    return response
