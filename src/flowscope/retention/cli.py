"""`flowscope retention …`: show and set per-provider retention, run it now."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.db import command_database, in_command_transaction, transaction
from flowscope.retention import service
from flowscope.retention.jobs import retention_run
from flowscope.settings import get_settings

retention_app = typer.Typer(help="How long events are kept, per provider.", no_args_is_help=True)


def _as_cli(session: Session) -> None:
    audit.act_as(session, audit.Actor("cli", f"cli:{getpass.getuser()}"[:128]))


@retention_app.command("list")
def retention_list() -> None:
    """Every provider with its retention (the default unless set) and horizon."""
    default = get_settings().retention_days
    with command_database() as db, transaction(db.sessions) as session:
        rows = service.list_retention(session, default)
    typer.echo(f"default: {_days(default)} (FLOWSCOPE_RETENTION_DAYS)")
    for r in rows:
        kind = "set" if r.override else "default"
        horizon = r.purged_before.isoformat(timespec="seconds") if r.purged_before else "-"
        days = f"{r.days} days" if r.days else "forever"
        typer.echo(f"{r.provider}\t{days} ({kind})\tdeleted before {horizon}")


@retention_app.command("set")
def retention_set(
    provider: Annotated[str, typer.Argument(help="The event provider, e.g. shop.checkout.")],
    days: Annotated[
        int | None,
        typer.Argument(help="Days to keep its events (0: forever); or --default.", min=0),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Use the default retention again.")
    ] = False,
) -> None:
    """Keep PROVIDER's events DAYS days (audited)."""
    if (days is None) == (not default):
        raise typer.BadParameter("give DAYS or --default (not both)")
    default_days = get_settings().retention_days

    def change(session: Session) -> service.ProviderRetention:
        _as_cli(session)
        return service.set_retention(session, provider, days, default_days)

    result = in_command_transaction(change)
    typer.echo(f"{result.provider}: events kept {_days(result.days)}")


def _days(days: int) -> str:
    return f"{days} days" if days else "forever"


@retention_app.command("run")
def retention_run_now() -> None:
    """Delete what is past retention now (one run, within FLOWSCOPE_RETENTION_RUN_SECONDS)."""
    with command_database() as db:
        result = retention_run(db, get_settings())
    removed = ", ".join(f"{n} {t}" for t, n in sorted(result.removed.rows.items()) if n)
    typer.echo(f"{result.events} events deleted" + (f" ({removed})" if removed else ""))
    if not result.complete:
        typer.echo("the time budget ran out first: run again to continue", err=True)
