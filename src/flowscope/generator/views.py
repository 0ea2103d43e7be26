"""Generator pages: the list with schedules and last runs, one generator's run history, and the
YAML form (from a template or to edit) with inline validation errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response

from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.deps import CurrentUser, DatabaseDep, EditorUser, SessionDep, verify_csrf
from flowscope.generator import jobs, service
from flowscope.generator.flowdef import FlowCreatedHook
from flowscope.generator.run import config_of
from flowscope.generator.service import InvalidConfig
from flowscope.jobs import Scheduler, next_run_times
from flowscope.web import is_htmx, redirect, render, render_invalid

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


def _flow_created_hooks(request: Request) -> Sequence[FlowCreatedHook]:
    """The hooks the app factory was given (a "Run now" may create the generator's flow)."""
    hooks: Sequence[FlowCreatedHook] = request.app.state.flow_created_hooks
    return hooks


FlowCreatedHooks = Annotated[Sequence[FlowCreatedHook], Depends(_flow_created_hooks)]


def _schedule_changed(request: Request, background: BackgroundTasks) -> None:
    """The scheduler of this process reconciles soon; one in another process does within its
    sync period. As a background task: it runs after the request's transaction committed, so
    the scheduler finds the change (and never runs for a request that failed)."""
    scheduler: Scheduler | None = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:
        background.add_task(scheduler.request_sync)


@router.get("/generators", name="generators")
def generators_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    generators = service.list_generators(session)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "generators": generators,
        "schedules": {g.id: config_of(g).schedule.describe() for g in generators},
        "last_runs": service.last_runs(session),
        "next_runs": next_run_times(session, prefix="generator:"),
        "runs": service.recent_runs(session, limit=20),
        "names": {g.id: g for g in generators},
    }
    return render(request, "generator/list.html", context)


@router.get("/generators/new", name="generator_new")
def new_generator(
    request: Request, user: EditorUser, template: str = jobs.DEMO_TEMPLATE
) -> Response:
    chosen = service.get_template(template)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "templates": service.list_templates(),
        "chosen": chosen.name,
        "source": chosen.source,
        "problems": [],
        "generator": None,
    }
    block = "editor" if is_htmx(request) and request.headers.get("hx-target") == "editor" else None
    return render(request, "generator/form.html", context, block=block)


@router.post("/generators/new", name="generator_create")
def create_generator(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    background: BackgroundTasks,
    source: Annotated[str, Form()],
    template: Annotated[str, Form()] = "",
) -> Response:
    try:
        generator = service.create_generator(session, source, user.username)
    except InvalidConfig as exc:
        context = {
            "user": user,
            "can_edit": user.role.allows(Role.editor),
            "templates": service.list_templates(),
            "chosen": template,
            "source": source,
            "problems": exc.problems,
            "generator": None,
        }
        return render_invalid(request, "generator/form.html", context)
    _schedule_changed(request, background)
    return redirect(request, request.url_for("generator", slug=generator.slug).path)


@router.get("/generators/{slug}", name="generator")
def generator_page(request: Request, session: SessionDep, user: CurrentUser, slug: str) -> Response:
    generator = service.get_generator(session, slug)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "generator": generator,
        "config": config_of(generator),
        "runs": service.recent_runs(session, generator.id, limit=100),
        "next_run": next_run_times(session, prefix=f"generator:{slug}").get(f"generator:{slug}"),
        "stale_before": datetime.now(UTC) - jobs.STALE_RUN,
    }
    # The run history polls itself while a run is going on (see detail.html).
    block = "runs" if is_htmx(request) and request.headers.get("hx-target") == "runs" else None
    return render(request, "generator/detail.html", context, block=block)


@router.get("/generators/{slug}/edit", name="generator_edit")
def edit_generator(request: Request, session: SessionDep, user: EditorUser, slug: str) -> Response:
    generator = service.get_generator(session, slug)
    context = {
        "user": user,
        "can_edit": user.role.allows(Role.editor),
        "generator": generator,
        "source": generator.source,
        "problems": [],
    }
    return render(request, "generator/form.html", context)


@router.post("/generators/{slug}/edit", name="generator_update")
def update_generator(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    slug: str,
    background: BackgroundTasks,
    source: Annotated[str, Form()],
) -> Response:
    try:
        service.update_generator(session, slug, source, user.username)
    except InvalidConfig as exc:
        generator = service.get_generator(session, slug)
        context = {
            "user": user,
            "can_edit": user.role.allows(Role.editor),
            "generator": generator,
            "source": source,
            "problems": exc.problems,
        }
        return render_invalid(request, "generator/form.html", context)
    _schedule_changed(request, background)
    return redirect(request, request.url_for("generator", slug=slug).path)


@router.post("/generators/{slug}/enable", name="generator_enable")
def enable_generator(
    request: Request, session: SessionDep, user: EditorUser, slug: str, background: BackgroundTasks
) -> Response:
    service.set_enabled(session, slug, True, user.username)
    _schedule_changed(request, background)
    return redirect(request, request.url_for("generator", slug=slug).path)


@router.post("/generators/{slug}/disable", name="generator_disable")
def disable_generator(
    request: Request, session: SessionDep, user: EditorUser, slug: str, background: BackgroundTasks
) -> Response:
    service.set_enabled(session, slug, False, user.username)
    _schedule_changed(request, background)
    return redirect(request, request.url_for("generator", slug=slug).path)


def _run_in_background(
    db: Database, slug: str, run_id: int, hooks: Sequence[FlowCreatedHook]
) -> None:
    try:
        jobs.run_once(db, slug, trigger="manual", on_flow_created=hooks, run_id=run_id)
    except Exception:
        # Recorded in the run history with its error; nothing else to tell the user here.
        log.exception("manual generator run failed", extra={"generator": slug})


@router.post("/generators/{slug}/run", name="generator_run")
def run_generator(
    request: Request,
    session: SessionDep,
    db: DatabaseDep,
    user: EditorUser,
    slug: str,
    background: BackgroundTasks,
    hooks: FlowCreatedHooks,
) -> Response:
    service.get_generator(session, slug)  # 404 now rather than a failed run later
    # Recorded now, so the page the redirect shows has the run (and polls until it ends); run
    # after the response: a first run may backfill days of history.
    run_id = jobs.start_run(db, slug, "manual")
    background.add_task(_run_in_background, db, slug, run_id, hooks)
    return redirect(request, request.url_for("generator", slug=slug).path)
