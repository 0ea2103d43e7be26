"""`flowscope flows …` (definitions as YAML) and `flowscope import-log` (history from logs)."""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from flowscope.clikit import database as _database
from flowscope.clikit import in_transaction as _in_transaction
from flowscope.errors import FlowscopeError
from flowscope.flows import importlog, yaml_io
from flowscope.flows import service as flows_service
from flowscope.flows.discovery import discover, suggest_flow
from flowscope.settings import get_settings

flows_app = typer.Typer(help="Flow definitions as YAML files.", no_args_is_help=True)


@flows_app.command("import")
def flows_import(
    file: Annotated[Path, typer.Argument(help="A flow definition (.yaml, .yml or .json).")],
    by: Annotated[
        str | None, typer.Option(help="Who is changing it, for the version history.")
    ] = None,
) -> None:
    """Create the flow, or store the file as its new version (an unchanged file adds none)."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise FlowscopeError(f"{file}: {exc.strerror or exc}") from None
    try:
        definition = yaml_io.from_yaml(text)  # JSON is YAML too
    except FlowscopeError as exc:
        raise FlowscopeError(f"{file}: {exc.message}") from None
    changed_by = by or f"cli:{getpass.getuser()}"
    if len(changed_by) > 64:
        raise FlowscopeError("--by: at most 64 characters")

    def store(session: Session) -> str:
        flow, outcome = flows_service.store_definition(session, definition, changed_by)
        return f"flow {flow.slug}: {outcome} (version {flow.version})"

    typer.echo(_in_transaction(store))


@flows_app.command("export")
def flows_export(
    slug: Annotated[str, typer.Argument()],
    version: Annotated[int | None, typer.Option(help="An older version.")] = None,
) -> None:
    """Print a flow definition as YAML (redirect it to a file to edit and import it again)."""

    def read(session: Session) -> str:
        if version is None:
            data = flows_service.get_flow(session, slug).definition
        else:
            data = flows_service.get_version(session, slug, version).definition
        return yaml_io.to_yaml(yaml_io.parse_definition(data))

    typer.echo(_in_transaction(read), nl=False)


@flows_app.command("list")
def flows_list() -> None:
    """List flow definitions: slug, version, name, last change."""

    def rows(session: Session) -> list[str]:
        return [
            f"{f.slug}\tv{f.version}\t{f.name}\t{f.updated_by}\t{f.updated_at:%Y-%m-%d %H:%M}"
            for f in flows_service.list_flows(session)
        ]

    for line in _in_transaction(rows):
        typer.echo(line)


@flows_app.command("versions")
def flows_versions(slug: Annotated[str, typer.Argument()]) -> None:
    """Who changed a flow, when, and what changed."""

    def rows(session: Session) -> list[str]:
        versions = list(flows_service.list_versions(session, slug))
        return [
            f"v{v.version}\t{v.changed_at:%Y-%m-%d %H:%M}\t{v.changed_by}\t"
            + ", ".join(
                flows_service.describe_change(
                    versions[i + 1].definition if i + 1 < len(versions) else None, v.definition
                )
            )
            for i, v in enumerate(versions)
        ]

    for line in _in_transaction(rows):
        typer.echo(line)


@flows_app.command("suggest")
def flows_suggest(
    provider: Annotated[str, typer.Argument(help="The event provider whose events to read.")],
    correlation: Annotated[str, typer.Option(help="Attribute path of the case id.")],
    slug: Annotated[
        str | None, typer.Option(help="Defaults to one made from the provider.")
    ] = None,
    name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Print a draft flow definition discovered from stored events (nothing is saved)."""

    def draft(session: Session) -> str:
        found = discover(session, provider, correlation, top_variants=1)
        flow = suggest_flow(
            found, slug or flows_service.slug_for(provider), name or provider, provider, correlation
        )
        return yaml_io.to_yaml(flow)

    typer.echo(_in_transaction(draft), nl=False)


def import_log(
    file: Annotated[Path, typer.Argument(help="A .xes, .xes.gz or .csv event log.")],
    provider: Annotated[str, typer.Option(help="The event provider to store the events under.")],
    case_field: Annotated[str, typer.Option(help="Column of the case id.")] = "case:concept:name",
    activity_field: Annotated[
        str, typer.Option(help="Column of the activity (becomes event.type).")
    ] = "concept:name",
    timestamp_field: Annotated[str, typer.Option(help="Column of the time.")] = "time:timestamp",
    batch_size: Annotated[int, typer.Option(min=1, help="Events per batch (one commit each).")] = (
        importlog.BATCH_SIZE
    ),
) -> None:
    """Import the history of a process from an event log; running it again stores nothing twice.

    The case id is stored as attribute case.id: use `--correlation case.id` to discover the flow.
    """
    fields = importlog.LogFields(
        case=case_field, activity=activity_field, timestamp=timestamp_field
    )
    settings = get_settings()
    importlog.log_format(file)  # a wrong file is reported before anything starts
    size = file.stat().st_size
    with (
        _database() as db,
        db.sessions() as session,
        typer.progressbar(length=size, label=file.name, file=sys.stderr) as bar,
    ):
        done = 0

        def batch_done(position: int, _result: importlog.ImportResult) -> None:
            nonlocal done
            session.commit()  # each batch is kept even if a later one fails
            bar.update(position - done)
            done = position

        result = importlog.import_log(
            session,
            file,
            provider,
            fields,
            batch_size=batch_size,
            max_future=timedelta(seconds=settings.max_future_seconds),
            max_depth=settings.max_json_depth,
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
