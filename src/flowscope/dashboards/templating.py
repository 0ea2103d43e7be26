"""The template dashboard of a flow: the lab's layout, built from the flow definition.

Row 1: a markdown header naming the steps. Then one column per key step (the first step, the
step with business exceptions, the last step), each with a "Business KPI" single value, the
KPI's trend and an auxiliary chart: orders by a segment property, business exceptions by type,
end-to-end time. Every query reads `fetch flows` for this flow only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.dashboards import service
from flowscope.dashboards.models import Dashboard
from flowscope.dashboards.schemas import DashboardSpec, Threshold, Tile
from flowscope.dashboards.variables import fql_string
from flowscope.flows.definitions.schemas import FlowDefinition, Step
from flowscope.generator.schemas import GeneratorConfig

WIDTH = 4


def _segment(definition: FlowDefinition, preferred: str | None) -> str | None:
    """The property to split orders by: the given one, else the first step's last text
    property (generated flows list the location before the segment)."""
    names = [p.name for s in definition.steps for p in s.properties if p.type == "string"]
    if preferred and preferred in names:
        return preferred
    first = [p.name for p in definition.steps[0].properties if p.type == "string"]
    return first[-1] if first else (names[0] if names else None)


def _key_steps(definition: FlowDefinition) -> list[Step]:
    """First step (outcome), a middle step with business exceptions (else the middle one),
    last step (conversions); fewer for flows of one or two steps."""
    steps = definition.steps
    if len(steps) <= 2:
        return list(steps)
    middle = [s for s in steps[1:-1] if s.exceptions]
    return [steps[0], middle[-1] if middle else steps[len(steps) // 2], steps[-1]]


def _name(text: str) -> str:
    """A property name as an FQL field: backquoted unless it is a plain dotted name."""
    plain = text.replace("_", "a").replace(".", "a")
    return text if plain.isalnum() and not text[0].isdigit() else f"`{text}`"


def dashboard_spec(definition: FlowDefinition, segment: str | None = None) -> DashboardSpec:
    flows = f"fetch flows\n| filter flow == {fql_string(definition.slug)}"
    steps = " → ".join(f"**{i}. {s.name}**" for i, s in enumerate(definition.steps, 1))
    tiles = [
        Tile(
            id="header",
            kind="markdown",
            x=0,
            y=0,
            w=12,
            h=2,
            markdown=f"## {definition.name}\n\n{steps}\n\n"
            "Each column follows one key step: its business KPI, the KPI's trend and a "
            "supporting chart. Change the timeframe above; edit any tile.",
        )
    ]
    segment_name = _segment(definition, segment)
    for column, step in enumerate(_key_steps(definition)):
        x = column * WIDTH
        tiles += _column(definition, step, flows, x, segment_name, column)
    return DashboardSpec(
        name=f"{definition.name} — overview",
        description=f"Template dashboard for the flow {definition.slug}.",
        tiles=tiles,
    )


def _column(
    definition: FlowDefinition, step: Step, flows: str, x: int, segment: str | None, column: int
) -> list[Tile]:
    # KPIs count whole flows, not flows whose current step is this one: a flow that moved on
    # still counts for the steps it passed.
    if column == 0:
        if definition.revenue is not None:
            kpi = "revenue = sum(revenue)"
        else:
            kpi = "orders = count()"
        trend, unit = kpi, ""
        aux_title = f"Orders by {segment}" if segment else "Orders by state"
        by = _name(segment) if segment else "state"
        aux = Tile(
            id=f"aux{column}",
            title=aux_title,
            viz="donut",
            query=f"{flows}\n| summarize orders = count(), by: {{{by}}}\n| sort orders desc",
        )
        kpi_query = f"{flows}\n| summarize {kpi}"
        thresholds: list[Threshold] = []
    elif column == 1:
        kpi = "exceptions = countIf(exception)"
        trend = kpi
        unit = ""
        at_step = f"\n| filter exception.step == {fql_string(step.key)}" if step.exceptions else ""
        kpi_query = f"{flows}{at_step}\n| summarize {kpi}"
        thresholds = [Threshold(value=0, color="#1a7f37"), Threshold(value=1, color="#b42318")]
        aux = Tile(
            id=f"aux{column}",
            title="Business exceptions by type",
            viz="bar",
            query=f"{flows}\n| filter exception"
            "\n| summarize flows = count(), by: {exception.name}\n| sort flows desc",
        )
    else:
        kpi = 'completed = countIf(state == "completed")'
        trend, unit = kpi, ""
        kpi_query = f"{flows}\n| summarize {kpi}"
        thresholds = []
        aux = Tile(
            id=f"aux{column}",
            title="End-to-end time, hours (completed flows)",
            viz="line",
            # in hours: a chart axis of nanoseconds is unreadable
            query=f'{flows}\n| filter state == "completed"'
            "\n| fieldsAdd hours = toDouble(duration) / 3600000000000"
            "\n| makeTimeseries `average hours` = avg(hours), time: started",
        )
    return [
        Tile(
            id=f"kpi{column}",
            title=f"Business KPI · {step.name}",
            viz="single",
            query=kpi_query,
            unit=unit,
            thresholds=thresholds,
            x=x,
            y=2,
            w=WIDTH,
            h=2,
        ),
        Tile(
            id=f"trend{column}",
            title=f"KPI trend · {step.name}",
            viz="line",
            query=f"{flows}\n| makeTimeseries {trend}, time: started",
            x=x,
            y=4,
            w=WIDTH,
            h=3,
        ),
        aux.model_copy(update={"x": x, "y": 7, "w": WIDTH, "h": 3}),
    ]


def dashboard_for_flow(
    session: Session,
    definition: FlowDefinition,
    *,
    changed_by: str = "template",
    segment: str | None = None,
) -> Dashboard:
    """Create the flow's template dashboard (a new one each call: slugs get a suffix)."""
    spec = dashboard_spec(definition, segment)
    return service.create(session, spec, changed_by, flow_slug=definition.slug)


def create_template_dashboard(
    session: Session, definition: FlowDefinition, config: GeneratorConfig
) -> None:
    """The generator's hook: one template dashboard per generated flow (never a second)."""
    exists = session.scalar(select(Dashboard.id).where(Dashboard.flow_slug == definition.slug))
    if exists is None:
        segment = config.segment.label if config.segment else None
        dashboard_for_flow(session, definition, changed_by="generator", segment=segment)
