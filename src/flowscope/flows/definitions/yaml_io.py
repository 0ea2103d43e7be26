"""Flow definitions as files: readable, stable YAML out; YAML or JSON in, errors that say where.

Export writes the keys in the order of the schema and leaves out what is empty or a default
(`optional: false`, `exceptions: []`, `type: string`…), except the flow's `timeouts`, which are
always written because they decide when an instance counts as stalled or dropped. Small
mappings (event matchers, edges) are written inline. Export → import → export gives the same
bytes.

Import reads YAML with the YAML 1.2 core scalars: only `true`/`false` are booleans and dates
stay text, so `name: 2024-01-01` or `type: on` mean what they say (booleans such as `yes` are
still accepted where the schema wants a boolean). A key given twice is an error.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from flowscope.errors import FlowscopeError
from flowscope.flows.definitions.schemas import KEY, SLUG, FlowDefinition


class InvalidDefinition(FlowscopeError):
    """A definition that cannot be read or does not validate; `details` lists every problem."""

    status_code = 422
    code = "invalid_definition"


# ---------------------------------------------------------------------------------------------
# export


def to_data(definition: FlowDefinition) -> dict[str, Any]:
    """The definition as plain JSON data without defaults (timeouts kept), in schema order."""
    data = definition.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    full = definition.model_dump(mode="json", by_alias=True)
    ordered: dict[str, Any] = {}
    for key in full:  # re-insert the flow timeouts at their place in the schema order
        if key in data:
            ordered[key] = data[key]
        elif key == "timeouts":
            ordered[key] = full[key]
    return ordered


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the reader refuses aliases, so never write them


class _Inline(dict[str, Any]):
    """A mapping written in flow style: `{from: a, to: b}`."""


class _InlineList(list[Any]):
    """A list of short names written in flow style: `[shop.checkout, shop.logistics]`."""


_LINE_BREAKS = frozenset("\r\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (descriptions) as a literal block; PyYAML falls back to quoting by itself
    # when a block cannot hold the text exactly (trailing spaces, special characters).
    style = "|" if "\n" in value else None
    if any(ch in value for ch in _LINE_BREAKS):
        style = '"'  # only escaped do these survive: a reader folds or normalises them
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_inline(dumper: yaml.SafeDumper, value: _Inline) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_inline_list(dumper: yaml.SafeDumper, value: _InlineList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Inline, _represent_inline)
_Dumper.add_representer(_InlineList, _represent_inline_list)
_Dumper.add_representer(dict, _represent_dict)


def _is_scalar_map(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and 0 < len(value) <= 3
        and all(not isinstance(v, (dict, list)) and not _long(v) for v in value.values())
    )


def _long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) > 40 or "\n" in value)


def _inline_small_maps(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    providers = out.get("providers")
    if isinstance(providers, list) and not any(_long(p) for p in providers):
        out["providers"] = _InlineList(providers)
    if isinstance(out.get("edges"), list):
        out["edges"] = [_Inline(e) for e in out["edges"]]
    steps = []
    for step in out.get("steps", []):
        step = dict(step)
        step["events"] = [_Inline(m) if _is_scalar_map(m) else m for m in step.get("events", [])]
        if _is_scalar_map(step.get("timeouts")):
            step["timeouts"] = _Inline(step["timeouts"])
        steps.append(step)
    out["steps"] = steps
    if _is_scalar_map(out.get("timeouts")):
        out["timeouts"] = _Inline(out["timeouts"])
    return out


def to_yaml(definition: FlowDefinition) -> str:
    """Readable, stable YAML (the same definition always gives the same text)."""
    data = _inline_small_maps(to_data(definition))
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=10_000,  # never fold long lines: a folded plain scalar is hard to diff
        indent=2,
    )


# ---------------------------------------------------------------------------------------------
# import


# Limits of any YAML this service reads (flow definitions, generator configurations). A flow
# of a hundred steps is a few thousand values and ten levels deep; a megabyte of YAML costs
# seconds of CPU to compose and construct, so anything much larger is refused before parsing,
# and deep or huge documents while composing (before the nodes are turned into Python objects).
MAX_YAML_BYTES = 1_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 20_000


class YamlTooLarge(InvalidDefinition):
    status_code = 413
    code = "payload_too_large"


def check_yaml_size(text: str | bytes, what: str = "the YAML") -> None:
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_YAML_BYTES:
        message = f"{what} is {size:,} bytes; at most {MAX_YAML_BYTES:,} are accepted"
        raise YamlTooLarge(message, details=[{"path": "", "message": message}])


def _refuse(problem: str, mark: Any) -> NoReturn:
    raise yaml.composer.ComposerError(None, None, problem, mark)


class _LimitedComposer(yaml.composer.Composer):
    """PyYAML's composer with a depth and node budget, refusing aliases.

    Aliases are refused because a few nested ones expand into billions of nodes when the
    data is validated and stored ("billion laughs"); definitions and configurations do not
    need them. The depth limit also keeps the recursive composer and constructor far from
    Python's recursion limit (5,000 nested lists used to answer 500).
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[attr-defined]
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            _refuse("aliases (*name) are not supported", mark)
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            _refuse(f"more than {MAX_YAML_NODES:,} values; at most that many are accepted", mark)
        if self._depth >= MAX_YAML_DEPTH:
            _refuse(f"nesting is deeper than {MAX_YAML_DEPTH} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml's parser (C, iterative) turns the text into events several times faster than
# PyYAML's; the composer above stays in Python so that it can count and refuse.
try:
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _EventParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str | bytes) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class SafeLimitedLoader(
    _LimitedComposer, _EventParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """`yaml.safe_load`'s meaning, within the limits above, with errors that have a line."""

    def __init__(self, stream: str | bytes) -> None:
        _EventParser.__init__(self, stream)
        _LimitedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. an integer of 5,000 digits, or `!!timestamp 2024-13-45`
            value = node.value if isinstance(node.value, str) else ""
            problem = f"{value[:40]!r} cannot be read: {exc}" if value else str(exc)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def safe_load_limited(text: str | bytes) -> Any:
    """`yaml.safe_load` within the limits; raises `YamlTooLarge` or a `yaml.YAMLError`."""
    check_yaml_size(text)
    return _load(SafeLimitedLoader(text))


def _load(loader: SafeLimitedLoader) -> Any:
    """What `yaml.load` does, typed for our loaders."""
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Loader(SafeLimitedLoader):
    """YAML 1.2 core booleans, no timestamps, no duplicate keys, no aliases, within limits."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first, _resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, regexp) for tag, regexp in _resolvers if tag != "tag:yaml.org,2002:bool"
    ]
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            kind = {"list": "a list", "dict": "a mapping"}.get(type(key).__name__, "a set")
            problem = f"a key must be text or a number, not {kind}"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
        if key in result:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", mark)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)  # type: ignore[type-var]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"YAML syntax error{where}: {problem}"


def load_yaml(text: str | bytes) -> Any:
    """Parse YAML text within the limits; a syntax error names the line and column.

    CPU-bound (up to a second for a megabyte): call it from a sync route or a thread.
    """
    check_yaml_size(text)
    try:
        return _load(_Loader(text))
    except yaml.YAMLError as exc:
        message = _yaml_problem(exc)
        raise InvalidDefinition(message, details=[{"path": "", "message": message}]) from None


def error_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's location as people write it: `steps[2].timeouts.drop`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


_PATTERNS = {
    SLUG: "is not a slug: use lowercase letters, digits, - and _ (at most 63), e.g. online-orders",
    KEY: "is not a step key: start with a letter or digit, then letters, digits, _ . or -",
}

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "string_pattern_mismatch":
        rule = _PATTERNS.get(error["ctx"]["pattern"], f"must match {error['ctx']['pattern']}")
        return f"{error['input']!r} {rule}"
    return message[:1].lower() + message[1:] if kind != "value_error" else message


def problems_of(exc: ValidationError) -> list[dict[str, str]]:
    """One `{path, message}` per problem, in the order pydantic found them."""
    problems = []
    for error in exc.errors():
        # Union members and wrappers (`function-after[...]`) add noise to the location.
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        problems.append({"path": error_path(loc), "message": _message(error)})
    return problems


def parse_definition(data: Any) -> FlowDefinition:
    """Validate plain data (from YAML or JSON) into a definition, or raise `InvalidDefinition`."""
    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        message = f"a flow definition is a mapping (slug, name, steps…), not {kind}"
        raise InvalidDefinition(message, details=[{"path": "", "message": message}])
    try:
        return FlowDefinition.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc)
        message = "; ".join(
            f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in problems
        )
        raise InvalidDefinition(message, details=problems) from None


def from_yaml(text: str | bytes) -> FlowDefinition:
    return parse_definition(load_yaml(text))
