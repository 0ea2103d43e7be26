"""Generators as stored objects: parse and validate YAML, templates, create, edit, enable, runs.
Functions take a session and never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.errors import Conflict, FlowscopeError, NotFound
from flowscope.flows.definitions.yaml_io import (
    InvalidDefinition,
    SafeLimitedLoader,
    safe_load_limited,
)
from flowscope.generator.models import Generator, GeneratorRun
from flowscope.generator.schemas import GeneratorConfig, describe_errors

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RUN_HISTORY_DAYS = 30


class InvalidConfig(FlowscopeError):
    """The YAML does not parse or does not validate; `problems` holds one line per problem."""

    code = "invalid_generator"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), details=problems)
        self.problems = problems


def parse_config(source: str) -> GeneratorConfig:
    try:
        data = safe_load_limited(source)  # no aliases, bounded size, depth and node count
    except InvalidDefinition as exc:  # over the size limit
        raise InvalidConfig([exc.message]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidConfig([f"YAML {where}{problem}"]) from None
    if not isinstance(data, dict):
        raise InvalidConfig(["the configuration must be a YAML mapping (name: …, provider: …)"])
    try:
        return GeneratorConfig.model_validate(data)
    except ValidationError as exc:
        errors = list(exc.errors())
        lines = [_line_of(source, err.get("loc", ())) for err in errors]
        problems = [
            f"line {line}: {text}" if line else text
            for line, text in zip(lines, describe_errors(errors), strict=True)
        ]
        raise InvalidConfig(problems) from None


def _line_of(source: str, loc: tuple[int | str, ...]) -> int | None:
    """The YAML line of the value at a validation error's location, found by walking the
    composed node tree along the location's keys and indices (None when it is not there,
    e.g. a missing field)."""
    node = yaml.compose(source, Loader=SafeLimitedLoader)  # type: ignore[arg-type]
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    source: str


def list_templates() -> list[Template]:
    templates = []
    for path in sorted(TEMPLATES_DIR.glob("*.yaml")):
        source = path.read_text(encoding="utf-8")
        config = parse_config(source)
        templates.append(Template(path.stem, config.name, config.description, source))
    return templates


def get_template(name: str) -> Template:
    for template in list_templates():
        if template.name == name:
            return template
    known = ", ".join(t.name for t in list_templates())
    raise NotFound(f"template {name!r} does not exist; templates: {known}")


def list_generators(session: Session) -> Sequence[Generator]:
    return session.scalars(select(Generator).order_by(Generator.name)).all()


def get_generator(session: Session, slug: str, *, for_update: bool = False) -> Generator:
    query = select(Generator).where(Generator.slug == slug)
    if for_update:
        query = query.with_for_update()
    generator = session.scalar(query)
    if generator is None:
        raise NotFound(f"generator {slug!r} does not exist")
    return generator


def create_generator(
    session: Session, source: str, changed_by: str, *, enabled: bool = True
) -> Generator:
    config = parse_config(source)
    slug = config.flow_slug
    if session.scalar(select(Generator.id).where(Generator.slug == slug)) is not None:
        raise Conflict(f"slug: a generator {slug!r} exists already; set another `slug` or name")
    generator = Generator(
        slug=slug,
        name=config.name,
        provider=config.provider,
        source=source,
        config=config.model_dump(mode="json"),
        enabled=enabled,
        updated_by=changed_by,
    )
    session.add(generator)
    session.flush()
    audit.record(
        session, "generator.created", f"generator:{slug}", {"enabled": enabled}, by=changed_by
    )
    return generator


def update_generator(session: Session, slug: str, source: str, changed_by: str) -> Generator:
    """A new configuration applies to flows that start from now on; flows already generated
    keep their events, pending ones included. A new provider starts with a backfill."""
    generator = get_generator(session, slug, for_update=True)
    config = parse_config(source)
    if config.flow_slug != generator.slug:
        raise InvalidConfig([f"slug: stays {generator.slug!r} (set `slug: {generator.slug}`)"])
    if config.provider != generator.provider:
        # New data identity (the journey's `…v002`): the next run backfills the new provider
        # if it is empty. Pending events of the old provider's flows are still written.
        generator.generated_until = None
    generator.name = config.name
    generator.provider = config.provider
    generator.source = source
    generator.config = config.model_dump(mode="json")
    generator.updated_by = changed_by
    generator.updated_at = datetime.now(UTC)
    session.flush()
    audit.record(session, "generator.updated", f"generator:{slug}", by=changed_by)
    return generator


def set_enabled(session: Session, slug: str, enabled: bool, changed_by: str) -> Generator:
    generator = get_generator(session, slug, for_update=True)
    generator.enabled = enabled
    generator.updated_by = changed_by
    generator.updated_at = datetime.now(UTC)
    session.flush()
    action = "generator.enabled" if enabled else "generator.disabled"
    audit.record(session, action, f"generator:{slug}", by=changed_by)
    return generator


def ensure_generator(session: Session, source: str, changed_by: str, *, enabled: bool) -> Generator:
    """The stored generator with this YAML's slug, created if absent (left as is if present)."""
    slug = parse_config(source).flow_slug
    existing = session.scalar(select(Generator).where(Generator.slug == slug))
    return existing or create_generator(session, source, changed_by, enabled=enabled)


def upsert_generator(session: Session, source: str, changed_by: str, *, enable: bool) -> Generator:
    """Create the generator from this YAML, or bring the stored one (same slug) up to it.
    `enable` switches it on; without it a new generator starts disabled and an existing one
    keeps its state."""
    slug = parse_config(source).flow_slug
    existing = session.scalar(select(Generator).where(Generator.slug == slug))
    if existing is None:
        return create_generator(session, source, changed_by, enabled=enable)
    if existing.source != source:
        update_generator(session, slug, source, changed_by)
    if enable and not existing.enabled:
        set_enabled(session, slug, True, changed_by)
    return existing


def recent_runs(
    session: Session, generator_id: int | None = None, limit: int = 50
) -> Sequence[GeneratorRun]:
    query = select(GeneratorRun).order_by(GeneratorRun.started_at.desc(), GeneratorRun.id.desc())
    if generator_id is not None:
        query = query.where(GeneratorRun.generator_id == generator_id)
    return session.scalars(query.limit(limit)).all()


def last_runs(session: Session) -> dict[int, GeneratorRun]:
    """The latest run of each generator (one index scan per generator via DISTINCT ON)."""
    query = (
        select(GeneratorRun)
        .ext(distinct_on(GeneratorRun.generator_id))
        .order_by(GeneratorRun.generator_id, GeneratorRun.started_at.desc(), GeneratorRun.id.desc())
    )
    return {run.generator_id: run for run in session.scalars(query)}


def prune_runs(session: Session, now: datetime) -> int:
    cutoff = now - timedelta(days=RUN_HISTORY_DAYS)
    result = session.execute(delete(GeneratorRun).where(GeneratorRun.started_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
