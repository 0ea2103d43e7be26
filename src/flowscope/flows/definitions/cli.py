"""`flowscope flows …`: flow definitions as YAML files, and suggesting one from stored events."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from flowscope.db import in_command_transaction
from flowscope.errors import FlowscopeError
from flowscope.flows.definitions import service as flows_service
from flowscope.flows.definitions import yaml_io
from flowscope.flows.definitions.discovery import discover, suggest_flow

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

    typer.echo(in_command_transaction(store))


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

    typer.echo(in_command_transaction(read), nl=False)


@flows_app.command("list")
def flows_list() -> None:
    """List flow definitions: slug, version, name, last change."""

    def rows(session: Session) -> list[str]:
        return [
            f"{f.slug}\tv{f.version}\t{f.name}\t{f.updated_by}\t{f.updated_at:%Y-%m-%d %H:%M}"
            for f in flows_service.list_flows(session)
        ]

    for line in in_command_transaction(rows):
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

    for line in in_command_transaction(rows):
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

    typer.echo(in_command_transaction(draft), nl=False)
