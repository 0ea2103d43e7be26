"""The one rule for reading an event attribute by a dotted path, in Python and in SQL.

Every reader uses it: the correlator (correlation field, exception conditions, step
properties, revenue), FQL, discovery (`flows suggest`), the editor's preview and the timeline's
IT context. For a path such as `order.id` the value is, in this order of precedence:

1. the top-level key spelled exactly like the whole path (`{"order.id": 7}`), whatever its
   value, JSON null included;
2. otherwise the nested objects, one path part per level (`{"order": {"id": 7}}`); only
   objects are walked, an array is never indexed (`items.0` does not read `{"items": [..]}`);
3. otherwise the attribute is missing (which is not the same as a JSON null).

A flat key wins because that is what the correlator has always done: it defines the
correlation ids of existing flows. A path is split on every dot, and only the top level is
tried as a flat key: in `{"a": {"b.c": 1}}` the path `a.b.c` is missing.

In SQL the same rule is `coalesce(col -> key, jsonb_path_query_first(col, 'strict $."a"."b"',
silent => true))`: `->` yields SQL NULL only for an absent key (a JSON null is kept), and a
strict JSON path fails, silently, on anything but an object at each level, where `#>` would
index arrays with numeric parts. The key and the JSON path are bound parameters built by
`sql_parameters`; the SQL text never holds user text.

The correlation id of a value (`correlation_id`, `correlation_sql`) is a string or a number as
text; null, empty text, booleans, objects and arrays do not correlate. Integers and strings
read the same in both. A fractional number is Python's `str()` in the correlator and the
stored decimal in SQL: the same text for plain decimals stored through the ingest API (`12.5`),
not where Python writes an exponent (`1e+16` against `10000000000000000`). Such numbers make
poor business ids; the difference is only named here.
"""

from __future__ import annotations

import json
from typing import Any, Final, NamedTuple


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()  # an absent attribute; None is a present JSON null


def get_path(attributes: Any, path: str) -> Any:
    """The value at `path` (see the module docstring for the precedence), or `MISSING`."""
    if not isinstance(attributes, dict):
        return MISSING
    if path in attributes:
        return attributes[path]
    value: Any = attributes
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def lookup(attributes: Any, path: str) -> Any:
    """`get_path`, with None for a missing attribute (for readers that need no difference)."""
    value = get_path(attributes, path)
    return None if value is MISSING else value


def correlation_id(value: Any) -> str | None:
    """A string or number as the correlation id text; anything else does not correlate."""
    if value is MISSING or value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)
    return text or None


class SqlParameters(NamedTuple):
    """The values to bind for the SQL builders: the flat key and the strict JSON path."""

    key: str
    jsonpath: str


def sql_parameters(path: str) -> SqlParameters:
    """`order.id` → ("order.id", 'strict $."order"."id"'), each part quoted as a JSON string
    (JSON's escapes are also JSON path's), so any character in a key is read literally."""
    quoted = ".".join(json.dumps(part, ensure_ascii=False) for part in path.split("."))
    return SqlParameters(path, f"strict $.{quoted}")


def value_sql(column: str, key: str, jsonpath: str) -> str:
    """SQL for the jsonb value at a path; NULL when missing, a jsonb `null` for a JSON null.

    `column` is the jsonb column's SQL, `key` and `jsonpath` the placeholders (already cast or
    typed by the caller's binding) of the values from `sql_parameters`.
    """
    return (
        f"coalesce({column} -> ({key}), "
        f"jsonb_path_query_first({column}, ({jsonpath})::jsonpath, silent => true))"
    )


def text_sql(column: str, key: str, jsonpath: str) -> str:
    """SQL for the value at a path as text: a string without quotes, other values as JSON
    text; NULL when missing or a JSON null."""
    return f"({value_sql(column, key, jsonpath)} #>> '{{}}')"


def correlation_sql(value: str) -> str:
    """SQL for `correlation_id` of a jsonb `value` (from `value_sql`): NULL unless a non-empty
    string or a number."""
    return (
        f"(case when jsonb_typeof({value}) in ('string', 'number') "
        f"then nullif({value} #>> '{{}}', '') end)"
    )
