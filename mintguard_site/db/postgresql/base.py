"""Django's PostgreSQL backend, with a connection health check that costs no round trip.

Connections persist (CONN_MAX_AGE) with health checks on, so a connection the server dropped
(a restart, a failover, an idle timeout) is replaced before a request uses it. Django checks with
`SELECT 1` before each request's first query: one more round trip on every request, about a
fifth of an idempotent replay's. An idle connection has nothing to read, so this backend looks at
the socket first: nothing readable means the server has said nothing and not hung up, and the
connection is used as it is; anything readable (a restart's "terminating connection", a hang-up,
a notice) falls back to Django's `SELECT 1`.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):  # the socket is gone
            return False
        return not readable or super().is_usable()
