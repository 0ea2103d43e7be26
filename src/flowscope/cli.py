"""The `flowscope` command: serve, db upgrade, tokens, users, flows, import-log."""

from __future__ import annotations

import gc
import getpass
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flowscope.auth import service as auth_service
from flowscope.auth.models import Role, User
from flowscope.db import command_database, in_command_transaction, transaction
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions import cli as flows_cli
from flowscope.ingest import cli as ingest_cli
from flowscope.ingest.eventlog import MAPPING_HELP
from flowscope.retention import cli as retention_cli
from flowscope.settings import get_settings

T = TypeVar("T")

app = typer.Typer(
    help="Flowscope: business flow observability.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for applications and scripts.", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in to the web UI.", no_args_is_help=True)

# A new password: asked for twice with hidden input unless given (or in the environment).
NewPassword = Annotated[
    str,
    typer.Option(
        prompt=True,
        confirmation_prompt=True,
        hide_input=True,
        envvar="FLOWSCOPE_NEW_PASSWORD",
        help="Asked for when not given.",
    ),
]

app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(users_app, name="users")
app.add_typer(flows_cli.flows_app, name="flows")
app.add_typer(retention_cli.retention_app, name="retention")
app.command("import-log", epilog=MAPPING_HELP)(ingest_cli.import_log_command)


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. 0.0.0.0 makes Flowscope reachable from other "
            "machines: only do that behind TLS and with strong passwords."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[
        bool, typer.Option(help="Restart when the code changes (development).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Web worker processes.")] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log every request (one line each). Turning it off saves a little CPU on busy "
            "ingest; request counts and latencies stay on /metrics either way."
        ),
    ] = True,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Load the online-retail demo generator with 24 h of history on start "
            "(same as FLOWSCOPE_DEMO=1).",
        ),
    ] = False,
) -> None:
    """Run the web UI, the API and the scheduler."""
    import uvicorn

    from flowscope.logs import configure_logging
    from flowscope.serving import uvicorn_options

    if demo:
        # Through the environment: uvicorn builds the app (and its settings) itself, in this
        # process or in worker processes, which inherit the environment.
        os.environ["FLOWSCOPE_DEMO"] = "1"
        get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    typer.echo(f"Flowscope on http://{host}:{port}  (Ctrl+C stops it)", err=True)
    uvicorn.run(
        "flowscope.cli:serving_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=None if reload else workers,
        log_config=None,
        access_log=access_log,
        proxy_headers=True,
        **uvicorn_options(settings),  # connection limits and timeouts, see serving.py
    )


def serving_app() -> FastAPI:
    """The app for `serve`, built in each worker process.

    gc.freeze() moves everything that exists once the app is built (modules, routes, models:
    long-lived by nature) out of the collector's generations, so the collections that ingest's
    many short-lived dicts trigger no longer rescan them: parsing a 500-event batch took 2.7-3.0
    ms of CPU before and 1.9-2.0 ms after (see bench/README.md).
    """
    from flowscope.app import create_app

    app = create_app()
    gc.freeze()
    return app


@app.command()
def generate(
    template_or_file: Annotated[
        str,
        typer.Argument(
            help="A template (retail, loan, power-outage, insurance-claim) or a YAML file.",
        ),
    ],
    hours: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=720,
            help="Generate the last N hours (at most 720). Events that exist already are "
            "skipped, so this is safe to repeat. Default: the configured backfill for a new "
            "provider, else what became due since the last run.",
        ),
    ] = None,
    enable: Annotated[
        bool, typer.Option("--enable", help="Keep it running on its schedule in `serve`.")
    ] = False,
) -> None:
    """Run a generator once: create or update it from the template or file, then generate."""
    from datetime import UTC, datetime

    from flowscope.generator import jobs as generator_jobs
    from flowscope.generator import service as generator_service
    from flowscope.wiring import FLOW_CREATED_HOOKS

    path = Path(template_or_file)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FlowscopeError(f"cannot read {path}: {exc.strerror}") from None
    else:
        source = generator_service.get_template(template_or_file).source
    with command_database() as db:
        with transaction(db.sessions) as session:
            generator = generator_service.upsert_generator(session, source, "cli", enable=enable)
            slug, provider, enabled = generator.slug, generator.provider, generator.enabled
        since = datetime.now(UTC) - timedelta(hours=hours) if hours else None
        # a flow the generator creates gets its template dashboard, as in `serve`
        run, outcome = generator_jobs.run_once(
            db, slug, trigger="cli", since=since, on_flow_created=FLOW_CREATED_HOOKS
        )
    assert outcome is not None  # noqa: S101 - run_once raises on failure
    what = "backfilled" if outcome.backfilled else "generated"
    typer.echo(
        f"{slug} ({provider}): {what} {outcome.window_start:%Y-%m-%d %H:%M} to "
        f"{outcome.window_end:%Y-%m-%d %H:%M} UTC: {outcome.written} events written, "
        f"{outcome.duplicates} already there, {outcome.pending_added} pending"
    )
    if not enabled:
        typer.echo(
            "the generator is disabled: enable it on the Generators page (or pass --enable) "
            "to keep it running in `flowscope serve`",
            err=True,
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (serve also does this on start)."""
    with command_database() as db:
        typer.echo(f"database is at the latest schema ({db.engine.url.render_as_string()})")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. shop-checkout.")],
    scope: Annotated[
        list[str], typer.Option(help="events:write, events:read or admin; repeat for several.")
    ],
) -> None:
    """Create a token and print its secret once (only a hash is stored)."""
    token_id, secret = in_command_transaction(
        lambda s: (lambda t: (t[0].id, t[1]))(auth_service.create_token(s, name, scope))
    )
    typer.echo(
        f"created token {token_id} ({name}); copy the secret now, it is not shown again:", err=True
    )
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (never their secrets)."""

    def rows(session: Session) -> list[str]:
        return [
            f"{t.id}\t{t.name}\t{t.prefix}…\t{','.join(t.scopes)}\t"
            f"{'revoked' if t.revoked_at else 'active'}"
            for t in auth_service.list_tokens(session)
        ]

    for line in in_command_transaction(rows):
        typer.echo(line)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(help="The id from `tokens list`.")],
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    in_command_transaction(lambda s: auth_service.revoke_token(s, token_id))
    typer.echo(f"token {token_id} revoked")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Option(help="viewer < editor < admin")] = Role.viewer,
    password: NewPassword = "",
) -> None:
    """Create a user who signs in to the web UI."""

    def create(session: Session) -> None:
        _as_cli(session)
        auth_service.create_user(session, username, password, role)

    in_command_transaction(create)
    typer.echo(f"user {username} created with role {role.value}")


def _as_cli(session: Session) -> None:
    """What this command changes is recorded in the audit log as done from the shell."""
    from flowscope.audit import service as audit

    audit.act_as(session, audit.Actor("cli", f"cli:{getpass.getuser()}"[:128]))


def _on_user(username: str, work: Callable[[Session, User], T]) -> T:
    from flowscope.auth import users

    def run(session: Session) -> T:
        _as_cli(session)
        return work(session, users.find_user(session, username))

    return in_command_transaction(run)


@users_app.command("list")
def users_list() -> None:
    """List users: name, role, status, live sessions."""
    from datetime import UTC, datetime

    from flowscope.auth import sessions, users

    lifetimes = sessions.Lifetimes.of(get_settings())

    def rows(session: Session) -> list[str]:
        active = sessions.activity(session, now=datetime.now(UTC), lifetimes=lifetimes)
        lines = []
        for user in users.list_users(session):
            seen = active.get(user.id)
            lines.append(
                f"{user.username}\t{user.role.value}\t"
                f"{'disabled' if user.disabled else 'active'}\t"
                f"{seen.sessions if seen else 0} session(s)"
            )
        return lines

    for line in in_command_transaction(rows):
        typer.echo(line)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable a user and end all their sessions at once."""
    from flowscope.auth import users

    ended = _on_user(username, lambda s, u: users.set_disabled(s, u, True))
    typer.echo(f"user {username} disabled; {ended} session(s) ended")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled user sign in again."""
    from flowscope.auth import users

    _on_user(username, lambda s, u: users.set_disabled(s, u, False))
    typer.echo(f"user {username} enabled")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument()],
    password: NewPassword = "",
) -> None:
    """Set a user's password; all their sessions end."""
    from flowscope.auth import users

    ended = _on_user(username, lambda s, u: users.set_password(s, u, password))
    typer.echo(f"password of {username} set; {ended} session(s) ended")


@users_app.command("set-role")
def users_set_role(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Argument(help="viewer < editor < admin")],
) -> None:
    """Change a user's role (the last enabled admin keeps theirs)."""
    from flowscope.auth import users

    _on_user(username, lambda s, u: users.set_role(s, u, role))
    typer.echo(f"user {username} is now {role.value}")


@users_app.command("end-sessions")
def users_end_sessions(username: Annotated[str, typer.Argument()]) -> None:
    """Sign a user out everywhere (their copied cookies stop working too)."""
    from flowscope.auth import users

    ended = _on_user(username, users.end_sessions)
    typer.echo(f"{ended} session(s) of {username} ended")


def _setting_problem(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    names = "_".join(str(part) for part in error["loc"])
    return f"FLOWSCOPE_{names.upper()}: {message}" if names else message


def main() -> None:
    """Entry point: user errors end in one line and a non-zero exit, never a traceback."""
    try:
        app()
    except FlowscopeError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except ValidationError as exc:  # a FLOWSCOPE_* setting that does not parse
        problems = "; ".join(_setting_problem(err) for err in exc.errors())
        typer.echo(f"error: invalid setting: {problems}", err=True)
        sys.exit(1)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        typer.echo(f"error: cannot reach the database: {reason}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
