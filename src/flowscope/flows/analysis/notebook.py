"""'Open in notebook': the FQL that reproduces what a flow page or a timeline shows.

Each function returns the notebook's query string (`q`, `from`, `to`), or None when the view
has a filter the link does not carry (a property filter, the correlation-id search): a link
that opened a different count would mislead more than none.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flowscope.flows.definitions.schemas import FlowDefinition

STATES = ("completed", "in_progress", "stalled", "dropped")


def _string(value: str) -> str:
    # FQL strings take JSON's escapes (`\"`, `\\`), so json.dumps quotes any text safely.
    return json.dumps(value, ensure_ascii=False)


def _field(path: str) -> str:
    # Backticks keep a dotted attribute path one name, whatever characters it holds.
    return f"`{path}`"


def _params(query: str, start: datetime, end: datetime) -> str:
    return urlencode({"q": query, "from": start.isoformat(), "to": end.isoformat()})


def flow_query(
    slug: str,
    start: datetime,
    end: datetime,
    *,
    step: str | None = None,
    status: str | None = None,
    filtered: bool = False,
) -> str | None:
    """The flows started in [start, end) of one flow, as the page's figures or drill-down
    filter (`status` at `step`) count them. `filtered`: the view has other filters too."""
    conditions = [f"flow == {_string(slug)}"]
    if filtered:
        return None
    if status in STATES:
        conditions.append(f"state == {_string(status)}")
        if step:
            # With a state, the drill-down lists the flows that are now at the step.
            conditions.append(f"step == {_string(step)}")
    elif status == "exception":
        conditions.append("exception == true")
        if step:  # an exception at this step: the step is among the instance's exception steps
            conditions.append(f"in({_string(step)}, exception.steps)")
    elif step and not status:  # the instances that reached the step, whatever happened next
        conditions.append(f"in({_string(step)}, steps)")
    elif status:
        return None
    lines = ["fetch flows", *(f"| filter {c}" for c in conditions)]
    return _params("\n".join(lines), start, end)


def timeline_query(
    definition: FlowDefinition, correlation_id: str, first: datetime, last: datetime
) -> str:
    """The events of one flow instance: its providers and step event types, with the
    correlation id in any field a step correlates on, between its first and last event."""
    paths = dict.fromkeys(
        [definition.correlation, *(s.correlation for s in definition.steps if s.correlation)]
    )
    types = dict.fromkeys(
        [
            *(m.type for s in definition.steps for m in s.events),
            *(x.type for s in definition.steps for x in s.exceptions if x.type),
        ]
    )
    match = " or ".join(f"{_field(p)} == {_string(correlation_id)}" for p in paths)
    lines = [
        "fetch bizevents",
        f"| filter {match}",
        "| filter in(event.provider, " + ", ".join(_string(p) for p in definition.providers) + ")",
    ]
    if types:
        lines.append("| filter in(event.type, " + ", ".join(_string(t) for t in types) + ")")
    lines.append("| sort timestamp asc")
    # `to` is exclusive: one millisecond past the last event keeps it in.
    return _params("\n".join(lines), first, last + timedelta(milliseconds=1))
