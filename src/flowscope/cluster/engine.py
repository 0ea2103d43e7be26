"""Which engine a database is: plain PostgreSQL, or the coordinator of a Citus cluster.

Statements that must differ per engine are chosen once per domain (e.g.
`flowscope.flows.correlation.statements`) from the value found here. It is looked up once per
pooled connection and remembered in that connection's `info`, which survives pool checkouts.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

_KEY = "flowscope_engine"


class Engine(enum.StrEnum):
    postgres = "postgres"
    citus = "citus"


def detect(conn: Connection) -> Engine:
    """Look the engine up (one catalog query)."""
    installed = conn.scalar(
        text("select exists (select 1 from pg_extension where extname = 'citus')")
    )
    # A worker (or a Citus node without workers) holds every table itself: plain PostgreSQL.
    if installed and conn.scalar(text("select citus_is_coordinator()")):
        return Engine.citus
    return Engine.postgres


def engine_of(session: Session | Connection) -> Engine:
    """The engine of the database `session` talks to, remembered per pooled connection."""
    conn = session.connection() if isinstance(session, Session) else session
    info: dict[str, Any] = conn.info
    found = info.get(_KEY)
    if found is None:
        found = info[_KEY] = detect(conn)
    return Engine(found)
