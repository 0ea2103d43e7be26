"""Storing and reading flow definitions. Functions take a session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.errors import NotFound
from flowscope.flows.models import Flow, FlowVersion
from flowscope.flows.schemas import FlowDefinition


def dump_definition(definition: FlowDefinition) -> dict[str, object]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


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
