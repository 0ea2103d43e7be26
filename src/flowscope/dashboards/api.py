"""JSON routes: list, read, replace, export and import dashboards."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from flowscope.auth.models import ApiToken, User
from flowscope.dashboards import service
from flowscope.dashboards.models import Dashboard
from flowscope.dashboards.schemas import (
    DashboardExport,
    DashboardOut,
    DashboardSpec,
    DashboardSummary,
)
from flowscope.deps import SessionDep
from flowscope.errors import ErrorResponse, NotFound
from flowscope.flows.definitions.api import Reader, Writer
from flowscope.params import Text, check_storable

router = APIRouter(prefix="/api/v1/dashboards", tags=["dashboards"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no dashboard has this slug"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid dashboard; the message names the field"}
}


def principal_name(principal: ApiToken | User) -> str:
    return principal.username if isinstance(principal, User) else f"token:{principal.name}"


def summary(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "slug": dashboard.slug,
        "name": dashboard.name,
        "version": dashboard.version,
        "flow": dashboard.flow_slug,
        "updated_at": dashboard.updated_at.isoformat(),
        "updated_by": dashboard.updated_by,
    }


@router.get("", name="api_dashboards", response_model=list[DashboardSummary])
def list_dashboards(session: SessionDep, reader: Reader) -> list[dict[str, Any]]:
    return [summary(d) for d in service.list_dashboards(session)]


@router.get("/{slug}", name="api_dashboard", response_model=DashboardOut, responses=_NOT_FOUND)
def get_dashboard(slug: Text, session: SessionDep, reader: Reader) -> dict[str, Any]:
    dashboard = service.get_dashboard(session, slug)
    return {**summary(dashboard), "spec": service.spec_of(dashboard).model_dump(mode="json")}


@router.put("/{slug}", name="api_put_dashboard", response_model=DashboardOut, responses=_INVALID)
def put_dashboard(
    slug: Text, body: dict[str, Any], session: SessionDep, writer: Writer
) -> dict[str, Any]:
    """Replace the dashboard's spec (a new version), or create it under `slug`."""
    check_storable(body)
    spec: DashboardSpec = service.parse_spec(body)
    who = principal_name(writer)
    try:
        dashboard = service.get_dashboard(session, slug)
    except NotFound:
        dashboard = service.create(session, spec, who, slug=service.checked_slug(slug))
    else:
        dashboard = service.update(session, dashboard, spec, who, "replaced through the API")
    return {**summary(dashboard), "spec": spec.model_dump(mode="json")}


@router.get(
    "/{slug}/export",
    name="api_export_dashboard",
    response_model=DashboardExport,
    responses=_NOT_FOUND,
)
def export_dashboard(slug: Text, session: SessionDep, reader: Reader) -> JSONResponse:
    dashboard = service.get_dashboard(session, slug)
    return JSONResponse(
        service.export(dashboard),
        headers={"Content-Disposition": f'attachment; filename="{dashboard.slug}.dashboard.json"'},
    )


@router.post(
    "/import", name="api_import_dashboard", response_model=DashboardSummary, responses=_INVALID
)
def import_dashboard(body: dict[str, Any], session: SessionDep, writer: Writer) -> dict[str, Any]:
    check_storable(body)
    dashboard = service.import_dashboard(session, body, principal_name(writer))
    return summary(dashboard)
