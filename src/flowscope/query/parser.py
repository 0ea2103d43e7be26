"""FQL text → lark parse tree → typed AST (`ast.Query`), with positioned, readable errors."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from flowscope.query import ast, dql
from flowscope.query.ast_builder import build_query
from flowscope.query.errors import QueryError

_GRAMMAR = Path(__file__).with_name("fql.lark")

# How the parser's terminal names read in an error message.
_TERMINAL_WORDS = {
    "NAME": "a field or command name",
    "BQNAME": "a `backquoted name`",
    "STRING": 'a "string"',
    "NUMBER": "a number",
    "DURATION": "a duration like 5m",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "OR": "or",
    "AND": "and",
    "NOT": "not",
    "OR_UPPER": "OR",
    "AND_UPPER": "AND",
    "NOT_UPPER": "NOT",
    "ASC": "asc",
    "DESC": "desc",
    "COMP_OP": "a comparison (== != < <= > >=)",
    "PLUS": "+",
    "MINUS": "-",
    "STAR": "*",
    "SLASH": "/",
    "TILDE": "~",
    "IN": "in",
    "VBAR": "|",
    "COMMA": ",",
    "COLON": ":",
    "EQUAL": "=",
    "LPAR": "(",
    "RPAR": ")",
    "LBRACE": "{",
    "RBRACE": "}",
    "LSQB": "[",
    "RSQB": "]",
    "$END": "the end of the query",
}


def _build_parser() -> Lark:
    """The LALR parser, built once at import (about 0.2 s) rather than by the first query.

    Its contextual lexer compiles one scanner regex per set of terminals that a parser state
    accepts, lazily, the first time a query reaches that state: every new shape of query paid
    0.3 ms per scanner it was the first to need (2-8 ms for the first compile of a bench
    query). All of them are compiled here instead (about 15 ms, once)."""
    parser = Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=False,  # positions come from tokens: see expr_builder.node_pos
        maybe_placeholders=True,
    )
    lexer = getattr(parser.parser, "lexer", None)  # lark's ContextualLexer (internal names)
    scanners = [*getattr(lexer, "lexers", {}).values(), getattr(lexer, "root_lexer", None)]
    for state_lexer in {id(s): s for s in scanners if s is not None}.values():
        getattr(state_lexer, "scanner", None)  # the property builds and keeps the scanner
    return parser


_PARSER = _build_parser()


def parse(text: str) -> ast.Query:
    """Parse and check the shape of a query; raises `QueryError` with line and column."""
    if not text.strip():
        raise QueryError("the query is empty: start with `fetch bizevents`", 1, 1)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        at = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
        unsupported = dql.command_at(text, at)
        raise (unsupported or _syntax_error(text, exc)) from None
    assert isinstance(tree, Tree)  # noqa: S101 - lark returns a tree without a transformer
    try:
        return build_query(tree.children[0])
    except RecursionError:
        raise too_deep() from None


def too_deep() -> QueryError:
    return QueryError("the query nests too deeply (functions or operators inside each other)")


@lru_cache(maxsize=512)
def parse_cached(text: str) -> ast.Query:
    """`parse` for texts that repeat (dashboard tiles, the notebook): ASTs are immutable."""
    return parse(text)


def _expected(names: set[str] | frozenset[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(name, name.lower()) for name in names})
    if not words:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return "; expected one of: " + ", ".join(words)


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        at = exc.pos_in_stream or 0
        char = text[at] if at < len(text) else ""
        if char == '"':
            return QueryError(
                "unterminated string: this opening quote has no closing quote on the same line",
                exc.line,
                exc.column,
            )
        if char == "`":
            return QueryError(
                "unterminated name: this backquote has no closing backquote on the same line",
                exc.line,
                exc.column,
            )
        return QueryError(
            f"unexpected character {char!r}{_expected(exc.allowed or set())}",
            exc.line,
            exc.column,
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            line, column = _end_position(text)
            return QueryError(
                "the query ends too early" + _expected(exc.accepts or exc.expected), line, column
            )
        shown = str(token.value)
        return QueryError(
            f"unexpected {shown!r}" + _expected(exc.accepts or exc.expected),
            token.line,
            token.column,
        )
    if isinstance(exc, UnexpectedEOF):
        line, column = _end_position(text)
        return QueryError("the query ends too early" + _expected(set(exc.expected)), line, column)
    return QueryError(str(exc))


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column
