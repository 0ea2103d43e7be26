"""Build generations: which results readers see, and rebuilding after a definition changes.

Every flow version is correlated into its own build. A new version starts a `building` build
that backfills the stored events in the background (progress in `events_done` of
`events_total`) while readers keep using the previous `ready` build; when the new build has
caught up with the live events it becomes `ready` and the old one `retired`, in the same
transaction, so readers switch atomically. Retired rows are purged afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from flowscope.flows.correlation.matching import CompiledFlow
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.definitions.models import Flow, FlowVersion
from flowscope.flows.definitions.schemas import FlowDefinition

RESULT_TABLES = (
    "flow_events",
    "flow_instances",
    "flow_instance_steps",
    "flow_transitions",
    "flow_rollups",
)


def current_build(session: Session, flow_id: int) -> FlowBuild | None:
    """The build readers use: the newest `ready` one (None while the first build runs)."""
    return session.scalar(
        select(FlowBuild)
        .where(FlowBuild.flow_id == flow_id, FlowBuild.state == "ready")
        .order_by(FlowBuild.id.desc())
        .limit(1)
    )


def latest_build(session: Session, flow_id: int) -> FlowBuild | None:
    """The newest build of any state: shows a rebuild's progress."""
    return session.scalar(
        select(FlowBuild).where(FlowBuild.flow_id == flow_id).order_by(FlowBuild.id.desc()).limit(1)
    )


def build_status(build: FlowBuild | None) -> dict[str, Any] | None:
    if build is None:
        return None
    return {
        "id": build.id,
        "version": build.version,
        "state": build.state,
        "events_done": build.events_done,
        "events_total": build.events_total,
        "created_at": build.created_at,
        "ready_at": build.ready_at,
    }


def sync_builds(session: Session, snapshot: str) -> list[FlowBuild]:
    """Start a build for every flow whose current version has none; returns the new builds.

    A build still running for an older version is retired at once: its results would never
    be shown. `snapshot` (the run's transaction snapshot) becomes the new build's horizon:
    it backfills the events visible in it, then follows from it.
    """
    rows = session.execute(
        select(Flow.id, Flow.version, Flow.definition).where(
            ~select(FlowBuild.id)
            .where(
                FlowBuild.flow_id == Flow.id,
                FlowBuild.version == Flow.version,
                FlowBuild.state.in_(("building", "ready")),
            )
            .exists()
        )
    ).all()
    created = []
    for flow_id, version, definition in rows:
        session.execute(
            update(FlowBuild)
            .where(FlowBuild.flow_id == flow_id, FlowBuild.state == "building")
            .values(state="retired", retired_at=datetime.now(UTC))
        )
        compiled = CompiledFlow.compile(
            FlowDefinition.model_validate(definition), build_id=0, flow_id=flow_id, version=version
        )
        total = session.scalar(
            text(
                "select count(*) from events "
                "where provider = any(:providers) and type = any(:types) "
                "and pg_visible_in_snapshot(txid, cast(:horizon as pg_snapshot))"
            ),
            {
                "providers": compiled.providers,
                "types": sorted({t for _, t in compiled.by_event}),
                "horizon": snapshot,
            },
        )
        build = FlowBuild(
            flow_id=flow_id,
            version=version,
            state="building",
            horizon=snapshot,
            backfill_seq=0,
            backfill_done=False,
            snapshot=snapshot,
            events_total=int(total or 0),
            events_done=0,
            purged=False,
            materialized=False,  # the backfill stores memberships; instances come after
        )
        session.add(build)
        created.append(build)
    session.flush()
    return created


def load_active(session: Session) -> list[tuple[FlowBuild, CompiledFlow]]:
    """Building and ready builds with their definition version, compiled."""
    rows = session.execute(
        select(FlowBuild, FlowVersion.definition)
        .join(
            FlowVersion,
            (FlowVersion.flow_id == FlowBuild.flow_id) & (FlowVersion.version == FlowBuild.version),
        )
        .where(FlowBuild.state.in_(("building", "ready")))
        .order_by(FlowBuild.id)
    ).all()
    result = []
    for build, definition in rows:
        compiled = CompiledFlow.compile(
            FlowDefinition.model_validate(definition),
            build_id=build.id,
            flow_id=build.flow_id,
            version=build.version,
        )
        result.append((build, compiled))
    return result


def promote(session: Session, build: FlowBuild) -> None:
    """Make `build` the one readers see and retire older ones, in the caller's transaction."""
    now = datetime.now(UTC)
    session.execute(
        update(FlowBuild)
        .where(
            FlowBuild.flow_id == build.flow_id,
            FlowBuild.id < build.id,
            FlowBuild.state.in_(("building", "ready")),
        )
        .values(state="retired", retired_at=now)
    )
    build.state = "ready"
    build.ready_at = now
    build.events_done = max(build.events_done, build.events_total)
    session.flush()


def purge_retired(session: Session, *, limit: int = 1) -> int:
    """Delete the result rows of up to `limit` retired builds; returns how many were purged."""
    ids = session.scalars(
        select(FlowBuild.id)
        .where(FlowBuild.state == "retired", FlowBuild.purged.is_(False))
        .order_by(FlowBuild.id)
        .limit(limit)
    ).all()
    for build_id in ids:
        for table in RESULT_TABLES:
            session.execute(text(f"delete from {table} where build_id = :b"), {"b": build_id})  # noqa: S608 - fixed names
        session.execute(update(FlowBuild).where(FlowBuild.id == build_id).values(purged=True))
    return len(ids)


def builds_of(session: Session, flow_id: int, *, limit: int = 10) -> list[FlowBuild]:
    return list(
        session.scalars(
            select(FlowBuild)
            .where(FlowBuild.flow_id == flow_id)
            .order_by(FlowBuild.id.desc())
            .limit(limit)
        )
    )
