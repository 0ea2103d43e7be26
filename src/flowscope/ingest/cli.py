"""`flowscope import-log`: the history of a process, from an event log into the event store."""

from __future__ import annotations

import gc
import getpass
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.db import command_database
from flowscope.errors import FlowscopeError
from flowscope.ingest import eventlog
from flowscope.retention.rules import load_rules
from flowscope.retention.service import set_retention
from flowscope.settings import get_settings


def keep_history(session: Session, provider: str, default_days: int) -> str | None:
    """An imported log is history, usually older than the default retention: without this,
    the next retention run would delete it and then refuse it for ever. A provider with no
    retention of its own is set to keep its events forever (audited); one that has its own
    keeps it. Returns what the user should know, or None."""
    rules = load_rules(session, default_days)
    notes = []
    if provider not in rules.days and default_days:
        audit.act_as(session, audit.Actor("cli", f"cli:{getpass.getuser()}"[:128]))
        set_retention(session, provider, 0, default_days)
        notes.append(
            f"provider {provider!r} now keeps its events forever (the default retention is "
            f"{default_days} days); change it with `flowscope retention set {provider} DAYS`"
        )
    elif days := rules.days_for(provider):
        notes.append(
            f"provider {provider!r} keeps events {days} days: older imported events are "
            "deleted by the next retention run"
        )
    if horizon := rules.horizons.get(provider):
        notes.append(
            f"retention already deleted events of {provider!r} before "
            f"{horizon.isoformat(timespec='seconds')}: older ones are skipped as present"
        )
    return "; ".join(notes) or None


@contextmanager
def _collecting_less() -> Iterator[None]:
    """While importing, each event makes a few short-lived dicts: at Python's default
    thresholds a collection runs every ~175 events, and the older generations, which hold the
    batches waiting for the writer (~75,000 objects), are rescanned every ~1,750 and ~17,500.
    Freezing what exists (modules, the app's tables) and collecting young objects every 50,000
    allocations instead: 26.5 -> 22.5-23.5 us of CPU per event read (bench/README.md,
    import-log). The collector still runs; the defaults come back afterwards (the command also
    runs inside other processes, such as the tests')."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def import_log_command(
    file: Annotated[Path, typer.Argument(help="A .xes, .xes.gz or .csv event log.")],
    provider: Annotated[str, typer.Option(help="The event provider to store the events under.")],
    case_field: Annotated[str, typer.Option(help="Column of the case id.")] = "case:concept:name",
    activity_field: Annotated[
        str, typer.Option(help="Column of the activity (becomes event.type).")
    ] = "concept:name",
    timestamp_field: Annotated[str, typer.Option(help="Column of the time.")] = "time:timestamp",
    batch_size: Annotated[int, typer.Option(min=1, help="Events per batch (one commit each).")] = (
        eventlog.BATCH_SIZE
    ),
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            max=2,
            help="1: read and store in turn; 2: store each batch while the next one is read "
            "(file order is kept either way).",
        ),
    ] = 2,
) -> None:
    """Import the history of a process from an event log; running it again stores nothing twice.

    The case id is stored as attribute case.id: use `--correlation case.id` to discover the flow.
    """
    fields = eventlog.LogFields(case=case_field, activity=activity_field, timestamp=timestamp_field)
    settings = get_settings()
    eventlog.log_format(file)  # a wrong file is reported before anything starts
    size = file.stat().st_size
    rate = ""  # shown after the bar, with its percentage and ETA

    def show_rate(_item: int | None) -> str:
        return rate

    with (
        command_database() as db,
        db.sessions() as session,
        typer.progressbar(
            length=size,
            label=file.name,
            file=sys.stderr,
            show_eta=True,
            item_show_func=show_rate,
        ) as bar,
    ):
        if note := keep_history(session, provider, settings.retention_days):
            typer.echo(note, err=True)
        session.commit()
        done = 0
        started = time.monotonic()

        def batch_done(position: int, result: eventlog.ImportResult) -> None:
            nonlocal done, rate
            session.commit()  # each batch is kept even if a later one fails
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = f"{result.read / elapsed:,.0f} events/s"
            bar.update(position - done)
            done = position

        with _collecting_less():
            result = eventlog.import_event_log(
                session,
                file,
                provider,
                fields,
                batch_size=batch_size,
                max_future=timedelta(seconds=settings.max_future_seconds),
                max_depth=settings.max_json_depth,
                jobs=jobs,
                on_batch=batch_done,
            )
    for problem in result.problems:
        typer.echo(f"rejected: {problem}", err=True)
    typer.echo(
        f"{result.read} events read: {result.stored} stored, {result.present} already present, "
        f"{result.rejected} rejected"
    )
    if result.rejected:
        raise FlowscopeError(f"{result.rejected} events were rejected (see above)")
