"""JSON API of flow definitions, their versions, and discovery from stored events.

Reads: an `events:read` token or a signed-in viewer. Writes: an `admin` token, or a signed-in
editor (who then also sends the session's CSRF token in `X-CSRF-Token`, as forms do).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.deps import LimitedBody, RequireScope, SessionDep, verify_csrf
from flowscope.errors import ErrorResponse, UnsupportedMediaType
from flowscope.flows.definitions import service
from flowscope.flows.definitions.discovery import Discovery, discover, suggest_flow
from flowscope.flows.definitions.models import Flow
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.yaml_io import (
    InvalidDefinition,
    check_yaml_size,
    load_yaml,
    parse_definition,
    to_yaml,
)
from flowscope.ingest.formats import decode_json, media_type
from flowscope.params import Text, check_storable

router = APIRouter(prefix="/api/v1", tags=["flows"])

Reader = Annotated[
    ApiToken | User, Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))
]
_require_writer = RequireScope(Scope.admin, allow_user_role=Role.editor)


async def writer(
    request: Request, principal: Annotated[ApiToken | User, Depends(_require_writer)]
) -> ApiToken | User:
    """An admin token, or a signed-in editor whose request carries the CSRF token."""
    if isinstance(principal, User):
        await verify_csrf(request)  # a session cookie alone must not be enough to write
    return principal


Writer = Annotated[ApiToken | User, Depends(writer)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no flow has this slug"}
}
_NOTHING_TO_DISCOVER: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the correlation path or the window is invalid"}
}

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_TYPES = frozenset({"application/json", "text/json"})


class FlowSummary(BaseModel):
    slug: str
    name: str
    version: int
    updated_by: str
    updated_at: datetime


class FlowOut(FlowSummary):
    definition: dict[str, Any]


class VersionOut(BaseModel):
    version: int
    changed_by: str
    changed_at: datetime
    changes: list[str]


def _summary(flow: Flow) -> dict[str, Any]:
    return {
        "slug": flow.slug,
        "name": flow.name,
        "version": flow.version,
        "updated_by": flow.updated_by,
        "updated_at": flow.updated_at,
    }


def _out(flow: Flow) -> FlowOut:
    return FlowOut(**_summary(flow), definition=flow.definition)


def _changed_by(principal: ApiToken | User) -> str:
    if isinstance(principal, User):
        return principal.username
    return f"token:{principal.name}"[:64]


@router.get("/flows", response_model=list[FlowSummary], summary="List flow definitions")
def list_flows(session: SessionDep, _reader: Reader) -> list[FlowSummary]:
    return [FlowSummary(**_summary(f)) for f in service.list_flows(session)]


@router.get(
    "/flows/{slug}", response_model=FlowOut, responses=_NOT_FOUND, summary="One flow definition"
)
def get_flow(slug: Text, session: SessionDep, _reader: Reader) -> FlowOut:
    return _out(service.get_flow(session, slug))


_PUT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.put(
    "/flows/{slug}",
    response_model=FlowOut,
    openapi_extra=_PUT_DOC,
    responses={
        201: {"model": FlowOut, "description": "created"},
        409: {"model": ErrorResponse, "description": "the flow is not at `expected_version`"},
        415: {"model": ErrorResponse, "description": "the body is neither JSON nor YAML"},
        422: {
            "model": ErrorResponse,
            "description": "invalid definition; `details` lists each path and reason",
        },
    },
    summary="Create a flow or store a new version of it (JSON or YAML body)",
)
def put_flow(
    slug: Text,
    request: Request,
    body: LimitedBody,
    session: SessionDep,
    principal: Writer,
    expected_version: Annotated[
        int | None,
        Query(
            ge=0,
            description="the version this change is based on (0: create only); another "
            "version answers 409 instead of overwriting someone else's change",
        ),
    ] = None,
) -> Response:
    kind = media_type(request.headers.get("content-type"))
    check_yaml_size(body, "the definition")  # none is near a megabyte, in YAML or JSON
    if kind in YAML_TYPES:
        data = load_yaml(body)
    elif kind in JSON_TYPES or not kind:
        data = decode_json(body, max_depth=64)
    else:
        raise UnsupportedMediaType(
            f"content type {kind!r} is not supported: send application/json or application/yaml"
        )
    check_storable(data)
    if isinstance(data, dict):
        data.setdefault("slug", slug)
        if data["slug"] != slug:
            message = (
                f"slug: the body's slug {data['slug']!r} differs from {slug!r} in the URL; "
                "to rename a flow, create it under the new slug"
            )
            raise InvalidDefinition(message, details=[{"path": "slug", "message": message}])
    definition = parse_definition(data)
    flow, outcome = service.store_definition(
        session, definition, _changed_by(principal), expected_version=expected_version
    )
    return JSONResponse(
        _out(flow).model_dump(mode="json"), status_code=201 if outcome == "created" else 200
    )


@router.get(
    "/flows/{slug}/versions",
    response_model=list[VersionOut],
    responses=_NOT_FOUND,
    summary="Who changed what, when",
)
def list_versions(slug: Text, session: SessionDep, _reader: Reader) -> list[VersionOut]:
    versions = list(service.list_versions(session, slug))
    out = []
    for i, version in enumerate(versions):  # newest first: the one before is the next item
        before = versions[i + 1].definition if i + 1 < len(versions) else None
        out.append(
            VersionOut(
                version=version.version,
                changed_by=version.changed_by,
                changed_at=version.changed_at,
                changes=service.describe_change(before, version.definition),
            )
        )
    return out


@router.get(
    "/flows/{slug}/export.yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}, **_NOT_FOUND},
    summary="The definition as a YAML file",
)
def export_yaml(
    slug: Text,
    session: SessionDep,
    _reader: Reader,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="an older version")
    ] = None,
) -> Response:
    if version is None:
        data = service.get_flow(session, slug).definition
    else:
        data = service.get_version(session, slug, version).definition
    return Response(
        to_yaml(parse_definition(data)),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{slug}.yaml"'},
    )


Correlation = Annotated[
    str,
    Query(
        min_length=1,
        max_length=256,
        description="attribute path of the case id, e.g. order.id or case.id",
    ),
]


@router.get(
    "/providers/{provider}/discover",
    response_model=Discovery,
    responses=_NOTHING_TO_DISCOVER,
    summary="Cases, activities, directly-follows graph and variants of a provider's events",
)
def discover_provider(
    provider: str,
    correlation: Correlation,
    session: SessionDep,
    _reader: Reader,
    start: datetime | None = None,
    end: datetime | None = None,
    top: Annotated[int, Query(ge=1, le=1000, description="variants to list")] = 10,
) -> Discovery:
    return discover(session, provider, correlation, start=start, end=end, top_variants=top)


@router.get(
    "/providers/{provider}/suggest",
    response_model=FlowDefinition,
    response_model_exclude_none=True,  # as stored and exported: no nulls
    responses=_NOTHING_TO_DISCOVER,
    summary="A draft flow definition from a provider's events (not saved)",
)
def suggest_provider(
    provider: str,
    correlation: Correlation,
    session: SessionDep,
    _reader: Reader,
    slug: Annotated[str | None, Query(description="defaults to one made from the provider")] = None,
    name: str | None = None,
    min_edge_share: Annotated[float, Query(ge=0, le=1)] = 0.01,
    start: datetime | None = None,
    end: datetime | None = None,
) -> FlowDefinition:
    found = discover(session, provider, correlation, start=start, end=end, top_variants=1)
    return suggest_flow(
        found,
        slug or service.slug_for(provider),
        name or provider,
        provider,
        correlation,
        min_edge_share=min_edge_share,
    )
