"""Every published DQL query of the corpus runs on the demo data, or is refused by name.

A query may only fail with "DQL command/function 'x' is not supported by FQL" (or a fetch
source FQL does not have): never with a parser's "unexpected …" or a server error. The pass
rate is printed and may only go up: `PASSING` is the floor.
"""

from __future__ import annotations

import re
import sys

import pytest
from sqlalchemy.orm import Session

from flowscope.query.errors import QueryError
from flowscope.query.service import run_query
from tests.query.data import NOW, ingest, make_events
from tests.query.dql_corpus import CORPUS

NOT_SUPPORTED = re.compile(r"DQL (command|function|operator) '[^']+' is not supported by FQL")
# of 119; main ran 59 before issue 12, 95 of 108 before join, append, parse and arrays, and
# 116 before stddev, variance, percentiles and countDistinctApprox. Raised as FQL learns more
PASSING = 119


def test_the_corpus_has_at_least_80_sourced_queries() -> None:
    assert len(CORPUS) >= 80
    assert all(
        url.startswith("https://") and query.startswith(("fetch", "data")) for url, query in CORPUS
    )


def test_every_corpus_query_runs_or_names_what_fql_does_not_support(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(session, make_events())
    ran, refused, wrong = 0, [], []
    for url, query in CORPUS:
        try:
            run_query(session, query, time_from="-24h", now=NOW)
        except QueryError as error:
            message = str(error)
            (refused if NOT_SUPPORTED.search(message) else wrong).append((query, message, url))
        else:
            ran += 1
    lines = [f"\nDQL corpus: {ran} of {len(CORPUS)} run ({100 * ran / len(CORPUS):.0f}%)"]
    lines += [f"  refused: {message}  <- {query[:70]}" for query, message, _ in refused]
    lines += [f"  WRONG: {message}  <- {query[:90]}" for query, message, _ in wrong]
    with capsys.disabled():  # the pass rate is this test's report: show it with -s or not
        sys.stdout.write("\n".join(lines) + "\n")
    assert wrong == []
    assert ran >= PASSING
