"""Dashboards: create, read, change (each change recorded with who and when), export, import."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.dashboards.models import Dashboard, DashboardChange
from flowscope.dashboards.schemas import GRID_COLUMNS, STORED, DashboardExport, DashboardSpec, Tile
from flowscope.errors import Conflict, FlowscopeError, NotFound
from flowscope.flows.definitions.service import slug_for


def spec_of(dashboard: Dashboard) -> DashboardSpec:
    return DashboardSpec.model_validate(dashboard.spec, context=STORED)


def invalid(error: ValidationError) -> FlowscopeError:
    """A validation error as one message naming each field and its reason."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "dashboard"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return FlowscopeError("; ".join(parts))


def parse_spec(data: Any) -> DashboardSpec:
    try:
        return DashboardSpec.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None


def list_dashboards(session: Session) -> Sequence[Dashboard]:
    return session.scalars(select(Dashboard).order_by(Dashboard.name)).all()


def get_dashboard(session: Session, slug: str) -> Dashboard:
    dashboard = session.scalar(select(Dashboard).where(Dashboard.slug == slug))
    if dashboard is None:
        raise NotFound(f"dashboard '{slug}' does not exist")
    return dashboard


def changes(session: Session, dashboard: Dashboard, limit: int = 20) -> Sequence[DashboardChange]:
    return session.scalars(
        select(DashboardChange)
        .where(DashboardChange.dashboard_id == dashboard.id)
        .order_by(DashboardChange.version.desc())
        .limit(limit)
    ).all()


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def checked_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise FlowscopeError("slug: lowercase letters, digits and '-', at most 64 characters")
    return slug


def _free_slug(session: Session, name: str) -> str:
    base = slug_for(name)[:56] or "dashboard"
    slug, n = base, 1
    while session.scalar(select(Dashboard.id).where(Dashboard.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def create(
    session: Session,
    spec: DashboardSpec,
    changed_by: str,
    *,
    slug: str | None = None,
    flow_slug: str | None = None,
) -> Dashboard:
    if slug is None:
        slug = _free_slug(session, spec.name)
    elif session.scalar(select(Dashboard.id).where(Dashboard.slug == slug)) is not None:
        raise Conflict(f"slug: a dashboard '{slug}' exists already")
    dashboard = Dashboard(
        slug=slug,
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        version=1,
        flow_slug=flow_slug,
        updated_by=changed_by,
    )
    session.add(dashboard)
    session.flush()
    _record(session, dashboard, "created", changed_by)
    return dashboard


def update(
    session: Session, dashboard: Dashboard, spec: DashboardSpec, changed_by: str, summary: str
) -> Dashboard:
    """Store `spec` as the next version and record the change."""
    dashboard.spec = spec.model_dump(mode="json")
    dashboard.name = spec.name
    dashboard.version += 1
    dashboard.updated_by = changed_by
    dashboard.updated_at = datetime.now(UTC)
    session.flush()
    _record(session, dashboard, summary, changed_by)
    return dashboard


def _record(session: Session, dashboard: Dashboard, summary: str, changed_by: str) -> None:
    action = "dashboard.created" if dashboard.version == 1 else "dashboard.updated"
    details = {"version": dashboard.version, "summary": summary[:200]}
    audit.record(session, action, f"dashboard:{dashboard.slug}", details, by=changed_by)
    session.add(
        DashboardChange(
            dashboard_id=dashboard.id,
            version=dashboard.version,
            summary=summary[:500],
            spec=dashboard.spec,
            changed_by=changed_by,
        )
    )
    session.flush()


def delete(session: Session, dashboard: Dashboard) -> None:
    audit.record(session, "dashboard.deleted", f"dashboard:{dashboard.slug}")
    session.delete(dashboard)
    session.flush()


def export(dashboard: Dashboard) -> dict[str, Any]:
    spec = spec_of(dashboard)
    data = DashboardExport(
        **spec.model_dump(), slug=dashboard.slug, flow=dashboard.flow_slug
    ).model_dump(mode="json")
    # the format marker first: a reader of the file sees what it is
    return {"format": data.pop("format"), **data}


def import_dashboard(session: Session, data: Any, changed_by: str) -> Dashboard:
    """Create the exported dashboard, or replace the one with its slug as a new version."""
    try:
        exported = DashboardExport.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None
    spec = DashboardSpec.model_validate(exported.model_dump(exclude={"format", "slug", "flow"}))
    existing = session.scalar(select(Dashboard).where(Dashboard.slug == exported.slug))
    if existing is not None:
        return update(session, existing, spec, changed_by, "imported")
    return create(session, spec, changed_by, slug=exported.slug, flow_slug=exported.flow)


# --- tile edits: each returns a new spec ---------------------------------------------------


def new_tile_id(spec: DashboardSpec) -> str:
    taken = {t.id for t in spec.tiles}
    while (tile_id := secrets.token_hex(4)) in taken:
        pass
    return tile_id


def next_row(spec: DashboardSpec) -> int:
    return max((t.y + t.h for t in spec.tiles), default=0)


def find_tile(spec: DashboardSpec, tile_id: str) -> Tile:
    for tile in spec.tiles:
        if tile.id == tile_id:
            return tile
    raise NotFound(f"tile '{tile_id}' is not on this dashboard")


def with_tile(spec: DashboardSpec, tile: Tile) -> DashboardSpec:
    """`spec` with `tile` replaced (same id) or appended; validates the result."""
    tiles = [tile if t.id == tile.id else t for t in spec.tiles]
    if all(t.id != tile.id for t in spec.tiles):
        tiles.append(tile)
    return parse_spec({**spec.model_dump(), "tiles": [t.model_dump() for t in tiles]})


def without_tile(spec: DashboardSpec, tile_id: str) -> DashboardSpec:
    find_tile(spec, tile_id)
    tiles = [t.model_dump() for t in spec.tiles if t.id != tile_id]
    return parse_spec({**spec.model_dump(), "tiles": tiles})


def moved(spec: DashboardSpec, tile_id: str, dx: int, dy: int, dw: int, dh: int) -> DashboardSpec:
    """Move/resize by steps, kept inside the grid (a move at the edge does nothing)."""
    tile = find_tile(spec, tile_id)
    w = min(max(1, tile.w + dw), GRID_COLUMNS)
    h = min(max(1, tile.h + dh), 12)
    x = min(max(0, tile.x + dx), GRID_COLUMNS - w)
    y = max(0, tile.y + dy)
    return with_tile(spec, tile.model_copy(update={"x": x, "y": y, "w": w, "h": h}))
