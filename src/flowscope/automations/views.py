"""Automation pages: the list, the form (trigger + ordered actions), one automation with its
run history and *Run now*."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from flowscope.auth.keys import secret_key
from flowscope.auth.models import Role
from flowscope.automations import forms, service, triggers
from flowscope.automations.api import SYNC, AutomationId
from flowscope.automations.models import Automation
from flowscope.deps import CurrentUser, EditorUser, SessionDep, SettingsDep, verify_csrf
from flowscope.errors import FlowscopeError
from flowscope.web import is_htmx, redirect, render, render_invalid

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _form_context(
    user: Any, data: dict[str, Any], automation: Automation | None, problems: list[str]
) -> dict[str, Any]:
    return {
        "user": user,
        "data": data,
        "automation": automation,
        "problems": problems,
        "action_types": forms.ACTION_TYPES,
        "trigger_types": forms.TRIGGER_TYPES,
        "mask": service.MASK,
    }


def _stored_data(automation: Automation) -> dict[str, Any]:
    return {
        "name": automation.name,
        "enabled": automation.enabled,
        "trigger": automation.trigger,
        "actions": service.public_actions(automation),
    }


@router.get("/automations", name="automations")
def automations_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    automations = service.list_automations(session)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "automations": automations,
        "triggers": {a.id: forms.describe_trigger(a.trigger) for a in automations},
        "last_runs": service.last_runs(session),
    }
    return render(request, "automations/list.html", context)


@router.get("/automations/new", name="automation_new")
def new_automation(request: Request, user: EditorUser) -> Response:
    data = {
        "name": "",
        "enabled": True,
        "trigger": {"type": "manual"},
        "actions": [forms.blank_action()],
    }
    return render(request, "automations/form.html", _form_context(user, data, None, []))


async def _posted(request: Request) -> tuple[dict[str, Any], str]:
    return forms.from_form(await request.form())


def _save(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    data: dict[str, Any],
    op: str,
    automation: Automation | None,
) -> Response:
    if forms.apply_op(data, op):
        block = "form" if is_htmx(request) else None
        context = _form_context(user, data, automation, [])
        return render(request, "automations/form.html", context, block=block)
    try:
        spec = service.parse(data)
        key = secret_key(settings, session)
        if automation is None:
            created, signing = service.create_automation(session, key, spec, user.username)
            return _detail(request, session, user, created, signing_secret=signing)
        service.update_automation(session, key, automation.id, spec, user.username)
    except FlowscopeError as exc:
        context = _form_context(user, data, automation, [exc.message])
        return render_invalid(request, "automations/form.html", context)
    return redirect(request, str(request.url_for("automation", automation_id=automation.id)))


@router.post("/automations/new", name="automation_create", dependencies=SYNC)
async def create_automation(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    data, op = await _posted(request)
    return _save(request, session, settings, user, data, op, None)


def _detail(
    request: Request,
    session: SessionDep,
    user: Any,
    automation: Automation,
    *,
    signing_secret: str | None = None,
    block: str | None = None,
) -> Response:
    runs = service.runs_of(session, automation.id, limit=20)
    # The rendered input as readable JSON (not `tojson`, which escapes for HTML attributes).
    inputs = {
        (run.id, step.position): json.dumps(step.request, indent=1, ensure_ascii=False)
        for run, steps in runs
        for step in steps
        if step.request
    }
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "automation": automation,
        "trigger": forms.describe_trigger(automation.trigger),
        "actions": service.public_actions(automation),
        "runs": runs,
        "inputs": inputs,
        "busy": any(run.finished_at is None for run, _ in runs),
        "signing_secret": signing_secret,
    }
    return render(request, "automations/detail.html", context, block=block)


@router.get("/automations/{automation_id}", name="automation")
def automation_page(
    request: Request, automation_id: AutomationId, session: SessionDep, user: CurrentUser
) -> Response:
    automation = service.get_automation(session, automation_id)
    block = "runs" if is_htmx(request) and request.headers.get("hx-target") == "runs" else None
    return _detail(request, session, user, automation, block=block)


@router.get("/automations/{automation_id}/edit", name="automation_edit")
def edit_automation(
    request: Request, automation_id: AutomationId, session: SessionDep, user: EditorUser
) -> Response:
    automation = service.get_automation(session, automation_id)
    context = _form_context(user, _stored_data(automation), automation, [])
    return render(request, "automations/form.html", context)


@router.post("/automations/{automation_id}/edit", name="automation_save", dependencies=SYNC)
async def save_automation(
    request: Request,
    automation_id: AutomationId,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
) -> Response:
    automation = service.get_automation(session, automation_id)
    data, op = await _posted(request)
    return _save(request, session, settings, user, data, op, automation)


@router.post("/automations/{automation_id}/run", name="automation_run")
def run_automation(
    request: Request, automation_id: AutomationId, session: SessionDep, user: EditorUser
) -> Response:
    automation = service.get_automation(session, automation_id)
    triggers.run_now(session, automation)
    service.audit_run(session, automation)
    return redirect(request, str(request.url_for("automation", automation_id=automation_id)))


@router.post("/automations/{automation_id}/delete", name="automation_delete", dependencies=SYNC)
def delete_automation(
    request: Request, automation_id: AutomationId, session: SessionDep, user: EditorUser
) -> Response:
    service.delete_automation(session, automation_id)
    return redirect(request, str(request.url_for("automations")))
