"""Generator pages: the list with schedules and last runs, one generator's run history, and the
YAML form (from a template or to edit) with inline validation errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from flowscope.auth.models import Role, User
from flowscope.db import Database
from flowscope.deps import CurrentUser, DatabaseDep, RequireRole, SessionDep, verify_csrf
from flowscope.generator import jobs, service
from flowscope.generator.run import config_of
from flowscope.generator.service import InvalidConfig
from flowscope.jobs import next_run_times
from flowscope.web import is_htmx, render

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
EditorUser = Annotated[User, Depends(RequireRole(Role.editor))]


def _redirect(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _invalid_status(request: Request) -> int:
    """400 for plain form posts; 200 for HTMX, which does not swap error responses, so that
    the form with its inline errors replaces the page."""
    return 200 if is_htmx(request) else 400


def _schedule_changed(request: Request) -> None:
    """The scheduler of this process reconciles now; one in another process does within
    its sync period."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:
        scheduler.request_sync()


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


@router.get("/generators/new", name="new_generator")
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


@router.post("/generators/new", name="create_generator")
def create_generator(
    request: Request,
    session: SessionDep,
    user: EditorUser,
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
        return render(request, "generator/form.html", context, status_code=_invalid_status(request))
    session.commit()  # before the scheduler (maybe in this process) looks for it
    _schedule_changed(request)
    return _redirect(request, request.url_for("generator", slug=generator.slug).path)


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


@router.get("/generators/{slug}/edit", name="edit_generator")
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


@router.post("/generators/{slug}/edit", name="update_generator")
def update_generator(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    slug: str,
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
        return render(request, "generator/form.html", context, status_code=_invalid_status(request))
    session.commit()
    _schedule_changed(request)
    return _redirect(request, request.url_for("generator", slug=slug).path)


@router.post("/generators/{slug}/enable", name="enable_generator")
def enable_generator(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    service.set_enabled(session, slug, True, user.username)
    session.commit()
    _schedule_changed(request)
    return _redirect(request, request.url_for("generator", slug=slug).path)


@router.post("/generators/{slug}/disable", name="disable_generator")
def disable_generator(
    request: Request, session: SessionDep, user: EditorUser, slug: str
) -> Response:
    service.set_enabled(session, slug, False, user.username)
    session.commit()
    _schedule_changed(request)
    return _redirect(request, request.url_for("generator", slug=slug).path)


def _run_in_background(db: Database, slug: str) -> None:
    try:
        jobs.run_once(db, slug, trigger="manual")
    except Exception:
        # Recorded in the run history with its error; nothing else to tell the user here.
        log.exception("manual generator run failed", extra={"generator": slug})


@router.post("/generators/{slug}/run", name="run_generator")
def run_generator(
    request: Request,
    session: SessionDep,
    db: DatabaseDep,
    user: EditorUser,
    slug: str,
    background: BackgroundTasks,
) -> Response:
    service.get_generator(session, slug)  # 404 now rather than a failed run later
    # After the response: a first run may backfill days of history.
    background.add_task(_run_in_background, db, slug)
    return _redirect(request, request.url_for("generator", slug=slug).path)
