"""Storing and reading flow definitions. Functions take a session and never commit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.errors import Conflict, NotFound
from flowscope.flows.definitions.models import Flow, FlowVersion
from flowscope.flows.definitions.schemas import FlowDefinition


def dump_definition(definition: FlowDefinition) -> dict[str, object]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


def slug_for(text: str) -> str:
    """A valid flow slug made from any text (a provider name, say)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:63]
    return slug or "flow"


def save_flow(session: Session, definition: FlowDefinition, changed_by: str) -> Flow:
    """Create the flow or store a new version of it (an unchanged definition adds no version)."""
    data = dump_definition(definition)
    flow = session.scalar(select(Flow).where(Flow.slug == definition.slug).with_for_update())
    if flow is None:
        flow = Flow(
            slug=definition.slug,
            name=definition.name,
            definition=data,
            version=1,
            updated_by=changed_by,
        )
        session.add(flow)
        session.flush()
    elif flow.definition == data:
        return flow
    else:
        flow.version += 1
        flow.name = definition.name
        flow.definition = data
        flow.updated_by = changed_by
        flow.updated_at = datetime.now(UTC)
    session.add(
        FlowVersion(flow_id=flow.id, version=flow.version, definition=data, changed_by=changed_by)
    )
    session.flush()
    action = "flow.created" if flow.version == 1 else "flow.updated"
    audit.record(session, action, f"flow:{flow.slug}", {"version": flow.version}, by=changed_by)
    return flow


def get_flow(session: Session, slug: str) -> Flow:
    flow = session.scalar(select(Flow).where(Flow.slug == slug))
    if flow is None:
        raise NotFound(f"flow {slug!r} does not exist")
    return flow


def definition_of(flow: Flow) -> FlowDefinition:
    return FlowDefinition.model_validate(flow.definition)


def list_flows(session: Session) -> Sequence[Flow]:
    return session.scalars(select(Flow).order_by(Flow.name)).all()


SaveOutcome = Literal["created", "updated", "unchanged"]


def store_definition(
    session: Session,
    definition: FlowDefinition,
    changed_by: str,
    *,
    expected_version: int | None = None,
) -> tuple[Flow, SaveOutcome]:
    """`save_flow`, also telling whether it created the flow, added a version or changed nothing.

    With `expected_version` (0: the flow must not exist yet) a change made by someone else
    since that version is refused instead of silently overwritten.
    """
    before = session.scalar(
        select(Flow.version).where(Flow.slug == definition.slug).with_for_update()
    )
    if expected_version is not None and (before or 0) != expected_version:
        current = get_flow(session, definition.slug) if before else None
        by = f" by {current.updated_by} at {current.updated_at:%Y-%m-%d %H:%M}" if current else ""
        raise Conflict(
            f"flow {definition.slug!r} is at version {before or 0}{by}, not "
            f"{expected_version}: reload it and apply your change again"
        )
    flow = save_flow(session, definition, changed_by)
    if before is None:
        return flow, "created"
    return flow, "unchanged" if flow.version == before else "updated"


def list_versions(session: Session, slug: str) -> Sequence[FlowVersion]:
    """Every stored version of a flow, newest first."""
    flow = get_flow(session, slug)
    return session.scalars(
        select(FlowVersion)
        .where(FlowVersion.flow_id == flow.id)
        .order_by(FlowVersion.version.desc())
    ).all()


def get_version(session: Session, slug: str, version: int) -> FlowVersion:
    flow = get_flow(session, slug)
    found = session.scalar(
        select(FlowVersion).where(FlowVersion.flow_id == flow.id, FlowVersion.version == version)
    )
    if found is None:
        raise NotFound(f"flow {slug!r} has no version {version} (latest is {flow.version})")
    return found


def describe_change(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What a version changed against the one before, in a few words per change."""
    if old is None:
        return ["created"]
    changes: list[str] = []
    old_steps = {s["key"]: s for s in old.get("steps", [])}
    new_steps = {s["key"]: s for s in new.get("steps", [])}
    changes += [f"added step {key}" for key in new_steps if key not in old_steps]
    changes += [f"removed step {key}" for key in old_steps if key not in new_steps]
    changes += [
        f"changed step {key}"
        for key, step in new_steps.items()
        if key in old_steps and old_steps[key] != step
    ]
    if [k for k in old_steps if k in new_steps] != [k for k in new_steps if k in old_steps]:
        changes.append("reordered steps")
    for field in sorted((set(old) | set(new)) - {"steps"}):
        if old.get(field) != new.get(field):
            changes.append(f"changed {field}")
    return changes
