"""One function per action type: `(Context, action dict with secrets) -> Outcome`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowscope.automations.actions.base import Context, Outcome
from flowscope.automations.actions.data import run_fql, run_ingest
from flowscope.automations.actions.email import run_email
from flowscope.automations.actions.http import run_http, run_slack, run_ticket

RUNNERS: dict[str, Callable[[Context, dict[str, Any]], Outcome]] = {
    "http": run_http,
    "slack": run_slack,
    "email": run_email,
    "fql": run_fql,
    "ingest": run_ingest,
    "ticket": run_ticket,
}
HTTP_TYPES = frozenset({"http", "slack", "ticket"})
