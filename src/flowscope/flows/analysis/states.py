"""The state of a flow instance, derived at read time: the one place the rule lives.

State rule (time dependent, nothing is rewritten as the clock moves):

1. `completed` — the instance reached an end step: a step with no outgoing edge to another
   step, or a step marked `final`. Once completed, an instance stays completed.
2. otherwise `dropped` — idle (now − last event) longer than the *drop* timeout of the step
   it is at (its last event's step; the step's own timeout, else the flow's);
3. otherwise `stalled` — idle longer than the *stall* timeout of that step;
4. otherwise `in_progress`.

A missing timeout never fires. The business-exception flag is orthogonal: a completed, stalled
or dropped instance may also have an exception.

The correlator stores `stall_at = last_event_at + stall timeout` and `drop_at = last_event_at
+ drop timeout` of the current step with each instance, so the rule is a comparison of those
columns with "now" and every query (KPIs, drill-downs, lists) uses the SQL built below (a
fragment over the `flow_instances` alias and a bound `:now` parameter; no user input).
"""

from __future__ import annotations

from typing import Literal, get_args

State = Literal["completed", "in_progress", "stalled", "dropped"]
STATES: tuple[State, ...] = get_args(State)


def state_sql(alias: str = "i", now: str = "now") -> str:
    """SQL `case` giving the state of the `flow_instances` row `alias` at the parameter `:now`."""
    return (
        f"(case when {alias}.completed_at is not null then 'completed' "
        f"when {alias}.drop_at < :{now} then 'dropped' "
        f"when {alias}.stall_at < :{now} then 'stalled' "
        "else 'in_progress' end)"
    )


def state_where(state: State, alias: str = "i", now: str = "now") -> str:
    """SQL condition "the instance is in `state` at `:now`": the same rule as `state_sql`,
    written so that it can use indexes on the timestamps."""
    open_ = f"{alias}.completed_at is null"
    not_dropped = f"({alias}.drop_at is null or {alias}.drop_at >= :{now})"
    not_stalled = f"({alias}.stall_at is null or {alias}.stall_at >= :{now})"
    if state == "completed":
        return f"{alias}.completed_at is not null"
    if state == "dropped":
        return f"({open_} and {alias}.drop_at < :{now})"
    if state == "stalled":
        return f"({open_} and {not_dropped} and {alias}.stall_at < :{now})"
    if state == "in_progress":
        return f"({open_} and {not_dropped} and {not_stalled})"
    raise ValueError(f"unknown state {state!r}")
