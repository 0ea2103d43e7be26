"""The FastAPI application factory: routers, templates, static files, error handling."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowscope import __version__, ops
from flowscope.alerts import api as alerts_api
from flowscope.alerts import rule_views as alert_rule_views
from flowscope.alerts import views as alert_views
from flowscope.audit import api as audit_api
from flowscope.audit import views as audit_views
from flowscope.auth import keys, passwords
from flowscope.auth import users_views as auth_users_views
from flowscope.auth import views as auth_views
from flowscope.auth.browser import BrowserCookies
from flowscope.auth.service import ensure_first_admin
from flowscope.automations import api as automations_api
from flowscope.automations import views as automations_views
from flowscope.dashboards import api as dashboards_api
from flowscope.dashboards import views as dashboards_views
from flowscope.db import Database, open_database, transaction
from flowscope.errors import FlowscopeError, LoginRequired, ServiceUnavailable, Unauthorized
from flowscope.flows.analysis import api as flows_analysis_api
from flowscope.flows.analysis import views as flows_views
from flowscope.flows.definitions import api as flows_api
from flowscope.flows.definitions import views as flows_editor
from flowscope.generator import jobs as generator_jobs
from flowscope.generator import views as generator_views
from flowscope.generator.flowdef import FlowCreatedHook
from flowscope.ingest import api as ingest_api
from flowscope.ingest import views as ingest_views
from flowscope.jobs import JobRegistry, Scheduler
from flowscope.metrics import MetricsMiddleware
from flowscope.paths import resource_dir
from flowscope.query import api as query_api
from flowscope.query import views as query_views
from flowscope.retention import api as retention_api
from flowscope.retention import views as retention_views
from flowscope.retention.rules import rules_cache
from flowscope.security_headers import SecurityHeadersMiddleware
from flowscope.settings import Settings, get_settings
from flowscope.web import is_htmx, redirect, render
from flowscope.wiring import FLOW_CREATED_HOOKS, job_registry

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

StartupHook = Callable[[FastAPI, Database], None]


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    on_startup: list[StartupHook] | None = None,
    jobs: JobRegistry | None = None,
    on_flow_created: Sequence[FlowCreatedHook] = FLOW_CREATED_HOOKS,
) -> FastAPI:
    """Build the app. With `database` given (tests) the app uses it and does not close it.

    `jobs` (default: every domain's, from `flowscope.wiring`) is what the scheduler runs;
    `on_flow_created` is called when a generator run creates its flow, wherever it runs.
    """
    settings = settings or get_settings()
    hooks = tuple(on_flow_created)
    registry = jobs if jobs is not None else job_registry(hooks)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or open_database(settings)
        app.state.db = db
        _load_secret_key(app, settings, db)
        rules_cache(app).load()  # ingest refuses events past retention from the first request
        if settings.bootstrap_admin:
            _bootstrap_admin(db)
        for hook in on_startup or []:
            hook(app, db)
        demo = generator_jobs.start_demo(db, hooks) if settings.demo else None
        scheduler = Scheduler(db, registry) if settings.scheduler_enabled else None
        if scheduler is not None:
            scheduler.start()
        app.state.scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()  # waits for running jobs, then releases the runner lock
            if demo is not None:
                demo.join(timeout=60)
            for name in ("ingest_slots", "ready_slots"):  # threads of ingest and /readyz
                slots = getattr(app.state, name, None)
                if slots is not None:
                    slots.close()
                    setattr(app.state, name, None)
            # uvicorn re-raises SIGTERM after shutdown, so code after uvicorn.run() never runs:
            # the embedded PostgreSQL must be stopped here.
            if database is None:
                db.close()

    app = FastAPI(
        title="Flowscope",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.flow_created_hooks = hooks  # for "Run now" (generator views)
    if database is not None:
        app.state.db = database
        _load_secret_key(app, settings, database)
    passwords.configure(settings.login_hash_concurrency)
    app.add_middleware(
        BrowserCookies,
        secure=settings.secure_cookies,
        session_max_age=settings.session_max_hours * 3600,
    )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(resource_dir("static"))), name="static")

    app.include_router(ops.router)
    app.include_router(ingest_api.router)
    app.include_router(flows_api.router)
    app.include_router(flows_analysis_api.router)
    app.include_router(alerts_api.router)
    app.include_router(auth_views.router)
    app.include_router(auth_users_views.router)
    app.include_router(audit_api.router)
    app.include_router(audit_views.router)
    app.include_router(retention_api.router)
    app.include_router(retention_views.router)
    app.include_router(flows_editor.router)  # before /flows/{slug}: /flows/manage is no slug
    app.include_router(ingest_views.router)
    app.include_router(generator_views.router)
    app.include_router(alert_views.router)
    app.include_router(alert_rule_views.router)
    app.include_router(query_api.router)
    app.include_router(query_views.router)
    app.include_router(flows_views.router)  # "/" (home) is the flows list
    app.include_router(dashboards_api.router)
    app.include_router(dashboards_views.router)
    app.include_router(automations_api.router)
    app.include_router(automations_views.router)

    _install_error_handlers(app)
    return app


def _load_secret_key(app: FastAPI, settings: Settings, db: Database) -> None:
    """The configured key, or this installation's own (made on first start, kept in the
    database): never a value that ships with the code."""
    with transaction(db.sessions) as session:
        app.state.secret_key = keys.secret_key(settings, session)


def _bootstrap_admin(db: Database) -> None:
    with transaction(db.sessions) as session:
        password = ensure_first_admin(session)
    if password is not None:
        # Printed once, to the console of whoever started Flowscope: the only way in on a
        # fresh install. Change it by creating your own admin and disabling this one.
        print(  # noqa: T201
            f"\n  First start: created user 'admin' with password {password}\n", file=sys.stderr
        )


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def _error_response(request: Request, error: FlowscopeError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, ServiceUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Api-Token, Bearer"  # RFC 9110: a 401 names its schemes
    if isinstance(error, LoginRequired) and not _wants_json(request):
        query = request.url.query
        here = f"{request.url.path}?{query}" if query else request.url.path
        target = request.url_for("login").include_query_params(next=here)
        return redirect(request, str(target))
    if _wants_json(request):
        return JSONResponse(error.to_dict(), status_code=error.status_code, headers=headers)
    context: dict[str, Any] = {"error": error}
    block = "content" if is_htmx(request) else None
    response = render(
        request, "errors/error.html", context, status_code=error.status_code, block=block
    )
    response.headers.update(headers)
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FlowscopeError)
    async def flowscope_error(request: Request, exc: FlowscopeError) -> Response:
        return _error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        error = FlowscopeError(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
        )
        error.code = "invalid_request"
        return _error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = FlowscopeError(str(exc.detail), status_code=exc.status_code)
        error.code = "http_error"
        response = _error_response(request, error)
        response.headers.update(exc.headers or {})  # e.g. the Allow header of a 405
        return response

    async def database_down(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable", extra={"error": str(exc)[:300]})
        return _error_response(
            request, ServiceUnavailable("the database is unavailable; retry shortly")
        )

    app.add_exception_handler(OperationalError, database_down)
    app.add_exception_handler(PoolTimeout, database_down)
    app.add_exception_handler(psycopg.OperationalError, database_down)

    @app.exception_handler(DBAPIError)
    async def dbapi_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return await database_down(request, exc)
        raise exc
