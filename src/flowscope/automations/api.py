"""JSON API of automations. Reads: an `events:read` token or a signed-in viewer; writes: an
`admin` token or a signed-in editor with the CSRF token (as the flows' API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from flowscope.auth.keys import secret_key
from flowscope.automations import service, triggers, yaml_io
from flowscope.automations.models import Automation, AutomationRun, AutomationRunStep
from flowscope.automations.schemas import (
    AutomationCreated,
    AutomationIn,
    AutomationOut,
    RunOut,
    StepOut,
)
from flowscope.deps import LimitedBody, SessionDep, SettingsDep
from flowscope.errors import ErrorResponse
from flowscope.flows.definitions.api import Reader, Writer, _changed_by
from flowscope.flows.definitions.yaml_io import check_yaml_size
from flowscope.ingest.formats import decode_json
from flowscope.jobs import Scheduler
from flowscope.params import check_storable

router = APIRouter(prefix="/api/v1", tags=["automations"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no automation has this id"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "the name is taken"},
    422: {"model": ErrorResponse, "description": "invalid; `details` names each field"},
}
AutomationId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` inlined (none is recursive), so that it stands
    inside the OpenAPI document, whose root has no `$defs`."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            if "discriminator" in node:  # its mapping names `$defs`: keep the property only
                node = {
                    **node,
                    "discriminator": {"propertyName": node["discriminator"]["propertyName"]},
                }
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


# The body is read raw (size-limited, then validated by `service.parse`); documented here.
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(AutomationIn.model_json_schema())}},
    }
}
_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


def schedules_changed(request: Request, background: BackgroundTasks) -> None:
    """After a write that may add, move or drop a schedule: this process's scheduler reconciles
    once the request committed (others within their sync period), as the generators do."""
    scheduler: Scheduler | None = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:
        background.add_task(scheduler.request_sync)


SYNC = [Depends(schedules_changed)]


class RunQueued(BaseModel):
    run_id: int
    status: str


class Imported(BaseModel):
    id: int
    name: str
    created: bool
    signing_secret: str | None  # only for an automation the import created


def out(automation: Automation) -> AutomationOut:
    return AutomationOut(
        id=automation.id,
        name=automation.name,
        enabled=automation.enabled,
        trigger=automation.trigger,
        actions=service.public_actions(automation),
        updated_by=automation.updated_by,
    )


def run_out(run: AutomationRun, steps: list[AutomationRunStep]) -> RunOut:
    return RunOut(
        id=run.id,
        trigger=run.trigger,
        status=run.status,
        created_at=run.created_at,
        finished_at=run.finished_at,
        steps=[
            StepOut(
                position=s.position,
                action_type=s.action_type,
                status=s.status,
                request=s.request,
                response_status=s.response_status,
                response_excerpt=s.response_excerpt,
                duration_ms=s.duration_ms,
                attempts=s.attempts,
                attempt_log=s.attempt_log,
                error=s.error,
            )
            for s in steps
        ],
    )


def _spec(body: bytes) -> Any:
    check_yaml_size(body, "the automation")
    data = decode_json(body, max_depth=32)
    check_storable(data)
    return service.parse(data)


@router.get(
    "/automations",
    name="api_automations",
    response_model=list[AutomationOut],
    summary="List automations",
)
def list_automations(session: SessionDep, _reader: Reader) -> list[AutomationOut]:
    return [out(a) for a in service.list_automations(session)]


@router.post(
    "/automations",
    name="api_automation_create",
    dependencies=SYNC,
    status_code=201,
    response_model=AutomationCreated,
    responses=_INVALID,
    openapi_extra=_BODY,
    summary="Create an automation; the answer holds its signing secret, shown only once",
)
def create_automation(
    body: LimitedBody, session: SessionDep, settings: SettingsDep, principal: Writer
) -> AutomationCreated:
    spec = _spec(body)
    automation, key = service.create_automation(
        session, secret_key(settings, session), spec, _changed_by(principal)
    )
    return AutomationCreated(**out(automation).model_dump(), signing_secret=key)


@router.get(
    "/automations/export.yaml",
    name="api_automations_export",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
    summary="Every automation as YAML (secrets left out)",
)
def export_yaml(session: SessionDep, _reader: Reader) -> Response:
    text = yaml_io.export_yaml(list(service.list_automations(session)))
    return Response(text, media_type="application/yaml")


@router.post(
    "/automations/import",
    name="api_automations_import",
    dependencies=SYNC,
    response_model=list[Imported],
    responses=_INVALID,
    openapi_extra=_YAML_BODY,
    summary="Create or update automations (by name) from a YAML document",
)
def import_yaml(
    body: LimitedBody, session: SessionDep, settings: SettingsDep, principal: Writer
) -> list[Imported]:
    done = yaml_io.import_yaml(session, secret_key(settings, session), body, _changed_by(principal))
    return [
        Imported(id=a.id, name=a.name, created=key is not None, signing_secret=key)
        for a, key in done
    ]


@router.get(
    "/automations/{automation_id}",
    name="api_automation",
    response_model=AutomationOut,
    responses=_NOT_FOUND,
    summary="One automation (secrets shown as '••• set')",
)
def get_automation(
    automation_id: AutomationId, session: SessionDep, _reader: Reader
) -> AutomationOut:
    return out(service.get_automation(session, automation_id))


@router.put(
    "/automations/{automation_id}",
    name="api_automation_update",
    dependencies=SYNC,
    response_model=AutomationOut,
    responses={**_NOT_FOUND, **_INVALID},
    openapi_extra=_BODY,
    summary="Replace an automation; a secret sent as null or '••• set' keeps its stored value",
)
def put_automation(
    automation_id: AutomationId,
    body: LimitedBody,
    session: SessionDep,
    settings: SettingsDep,
    principal: Writer,
) -> AutomationOut:
    spec = _spec(body)
    automation = service.update_automation(
        session, secret_key(settings, session), automation_id, spec, _changed_by(principal)
    )
    return out(automation)


@router.delete(
    "/automations/{automation_id}",
    name="api_automation_delete",
    dependencies=SYNC,
    status_code=204,
    response_class=Response,
    responses=_NOT_FOUND,
    summary="Delete an automation and its run history",
)
def delete_automation(automation_id: AutomationId, session: SessionDep, _w: Writer) -> Response:
    service.delete_automation(session, automation_id)
    return Response(status_code=204)


@router.post(
    "/automations/{automation_id}/run",
    name="api_automation_run",
    status_code=202,
    response_model=RunQueued,
    responses=_NOT_FOUND,
    summary="Run now: queue a run; its actions are sent by the dispatcher",
)
def run_automation(automation_id: AutomationId, session: SessionDep, _w: Writer) -> RunQueued:
    automation = service.get_automation(session, automation_id)
    run = triggers.run_now(session, automation)
    service.audit_run(session, automation)
    return RunQueued(run_id=run.id, status=run.status)


@router.get(
    "/automations/{automation_id}/runs",
    name="api_automation_runs",
    response_model=list[RunOut],
    responses=_NOT_FOUND,
    summary="Run history, newest first, with each action's input and response",
)
def list_runs(
    automation_id: AutomationId,
    session: SessionDep,
    _reader: Reader,
    limit: Annotated[int, Query(ge=1, le=service.MAX_RUNS)] = 50,
) -> list[RunOut]:
    service.get_automation(session, automation_id)
    return [run_out(run, steps) for run, steps in service.runs_of(session, automation_id, limit)]
