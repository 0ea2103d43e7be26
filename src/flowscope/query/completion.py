"""What the notebook's editor completes: commands, functions (from the function table) and
the field names seen in recent events.

Field names come from a bounded sample (the newest `SAMPLE` events, read by primary key) and
are cached per database for `TTL_S` seconds, so typing in the editor costs no scan.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.query.ast_builder import COMMAND_NAMES
from flowscope.query.functions import AGGREGATES, SCALARS
from flowscope.query.sources import SOURCES

SAMPLE = 500  # newest events whose attribute names are offered
MAX_FIELDS = 300
MAX_DEPTH = 4  # nested objects are offered as dotted paths down to this depth
TTL_S = 60.0


@dataclass(frozen=True)
class Completions:
    commands: list[str]
    functions: list[dict[str, str]]  # name and signature
    fields: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"commands": self.commands, "functions": self.functions, "fields": self.fields}


_cache: dict[str, tuple[float, list[str]]] = {}
_lock = threading.Lock()


def completions(session: Session, *, now: float | None = None) -> Completions:
    functions = [
        {"name": name, "signature": function.signature}
        for name, function in sorted((SCALARS | AGGREGATES).items())
    ]
    return Completions(list(COMMAND_NAMES), functions, field_names(session, now=now))


def field_names(session: Session, *, now: float | None = None) -> list[str]:
    """The sources' own fields, then the attribute paths of recent events, most used first."""
    at = time.monotonic() if now is None else now
    key = str(session.get_bind().engine.url)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and 0 <= at - hit[0] < TTL_S:
        return hit[1]
    counts: dict[str, int] = {}
    rows = session.execute(
        text("select attributes from events order by seq desc limit :n"), {"n": SAMPLE}
    ).scalars()
    for attributes in rows:
        _paths(attributes, "", 1, counts)
    standard = dict.fromkeys(
        column.name
        for source in SOURCES.values()
        for column in source.columns
        if not column.name.startswith("#")
    )
    seen = sorted(counts, key=lambda name: (-counts[name], name))
    names = [*standard, *(n for n in seen if n not in standard)][:MAX_FIELDS]
    with _lock:
        _cache[key] = (at, names)
    return names


def _paths(value: Any, prefix: str, depth: int, counts: dict[str, int]) -> None:
    if not isinstance(value, dict):
        return
    for name, inner in value.items():
        path = prefix + str(name)
        counts[path] = counts.get(path, 0) + 1
        if depth < MAX_DEPTH and len(counts) < 10 * MAX_FIELDS:
            _paths(inner, path + ".", depth + 1, counts)
