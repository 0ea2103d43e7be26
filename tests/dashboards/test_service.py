"""Dashboards in the database: versions with who/when, layout edits, export → import."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from flowscope.dashboards import service, templating
from flowscope.dashboards.models import Dashboard, DashboardChange
from flowscope.dashboards.schemas import DashboardSpec
from flowscope.dashboards.tiles import TimeframeText, tile_view
from flowscope.db import Database
from flowscope.errors import FlowscopeError
from flowscope.generator import service as generator_service
from flowscope.generator.run import run_generator
from flowscope.settings import Settings
from tests.flows.correlation_support import drain

SPEC = {
    "name": "Checkout",
    "time_from": "-6h",
    "variables": [{"name": "Provider", "values": ["shop.a", "shop.b"]}],
    "tiles": [
        {"id": "notes", "kind": "markdown", "markdown": "# Hi", "w": 12, "h": 1},
        {
            "id": "orders",
            "query": "fetch bizevents | filter event.provider == $Provider | summarize count()",
            "viz": "single",
            "y": 1,
            "thresholds": [{"value": 10, "color": "#b3261e"}],
        },
    ],
}


def test_every_change_is_a_version_with_who_and_when(session: Session) -> None:
    board = service.create(session, DashboardSpec.model_validate(SPEC), "ann")
    spec = service.moved(service.spec_of(board), "orders", 3, 1, 2, 0)
    service.update(session, board, spec, "bob", "moved orders")
    rows = session.scalars(select(DashboardChange).order_by(DashboardChange.version)).all()
    assert [(r.version, r.changed_by, r.summary) for r in rows] == [
        (1, "ann", "created"),
        (2, "bob", "moved orders"),
    ]
    assert rows[1].spec == board.spec
    tile = service.find_tile(service.spec_of(board), "orders")
    assert (tile.x, tile.y, tile.w, tile.h) == (3, 2, 6, 3)


def test_moves_and_resizes_stay_inside_the_grid(session: Session) -> None:
    spec = DashboardSpec.model_validate(SPEC)
    assert service.find_tile(service.moved(spec, "notes", 1, 0, 0, 0), "notes").x == 0
    wide = service.moved(spec, "orders", 0, -5, 20, 0)
    tile = service.find_tile(wide, "orders")
    assert (tile.x, tile.y, tile.w) == (0, 0, 12)


def test_invalid_specs_name_the_field(session: Session) -> None:
    with pytest.raises(FlowscopeError, match=r"tiles\.0: .*x \+ w"):
        service.parse_spec({"name": "x", "tiles": [{"id": "a", "kind": "markdown", "x": 10}]})
    with pytest.raises(FlowscopeError, match="appears twice"):
        service.parse_spec({"name": "x", "tiles": [SPEC["tiles"][0], SPEC["tiles"][0]]})


def test_export_then_import_gives_the_same_dashboard(session: Session) -> None:
    board = service.create(session, DashboardSpec.model_validate(SPEC), "ann", slug="checkout")
    exported = service.export(board)
    assert exported["format"] == "flowscope.dashboard/v1"
    service.delete(session, board)
    again = service.import_dashboard(session, exported, "bob")
    assert again.slug == "checkout"
    assert service.export(again) == exported
    # importing over an existing slug makes a new version, not a second dashboard
    service.import_dashboard(session, {**exported, "name": "Checkout 2"}, "bob")
    assert session.scalar(select(Dashboard.version).where(Dashboard.slug == "checkout")) == 2
    assert session.scalar(select(Dashboard.name)) == "Checkout 2"


def test_import_rejects_a_wrong_format(session: Session) -> None:
    with pytest.raises(FlowscopeError, match="format"):
        service.import_dashboard(session, {"format": "other", "slug": "x", "name": "x"}, "a")


def test_template_dashboard_of_a_generated_retail_flow_runs(
    clean_db: Database, settings: Settings
) -> None:
    source = generator_service.get_template("retail").source.replace("volume: 120", "volume: 6")
    now = datetime.now(UTC)
    with clean_db.sessions.begin() as session:
        generator = generator_service.create_generator(session, source, "test")
        hooks = [templating.create_template_dashboard]
        assert run_generator(session, generator, now, on_flow_created=hooks).flow_created
    drain(clean_db)
    with clean_db.sessions() as session:
        board = session.scalars(select(Dashboard)).one()
        spec = service.spec_of(board)
        assert board.flow_slug == "retail-orders"
        assert board.updated_by == "generator"
        header = spec.tiles[0]
        assert header.kind == "markdown"
        assert "Order placed" in header.markdown
        assert "Delivered" in header.markdown
        titles = [t.title for t in spec.tiles]
        assert "Orders by Loyalty tier" in titles
        assert "Business exceptions by type" in titles
        assert sum(t.title.startswith("Business KPI") for t in spec.tiles) == 3
        frame = TimeframeText("-25h", "")
        views = {t.id: tile_view(session, settings, t, frame, {}) for t in spec.tiles}
        assert [v.error for v in views.values() if v.error] == []
        expected = session.scalar(
            text(
                "select sum(revenue) from flow_instances where build_id = "
                "(select max(id) from flow_builds where state = 'ready')"
            )
        )
        assert isinstance(expected, Decimal)
        assert expected > 0
        revenue = views["kpi0"].result
        assert revenue is not None
        assert revenue.rows[0][0] == pytest.approx(float(expected))
        assert views["aux0"].chart is not None
        assert views["aux0"].chart["type"] == "donut"
        assert set(views["aux0"].chart["categories"]) <= {"bronze", "silver", "gold", "platinum"}
        assert views["trend0"].chart is not None
        assert views["trend0"].chart["times"]
