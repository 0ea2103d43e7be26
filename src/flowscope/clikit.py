"""What every `flowscope` subcommand needs: the database for the length of one command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.orm import Session

from flowscope.db import Database, open_database, transaction
from flowscope.settings import get_settings

T = TypeVar("T")


@contextmanager
def database() -> Iterator[Database]:
    """The configured database (the embedded server is started if needed, and stopped)."""
    db = open_database(get_settings())
    try:
        yield db
    finally:
        db.close()


def in_transaction(work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction: committed when it returns, rolled back if it raises."""
    with database() as db, transaction(db.sessions) as session:
        return work(session)
