"""Read and match the next batches on a second connection while the run applies the last.

A run's time goes to PostgreSQL recomputing instances (most of it) and to Python reading
and matching events (about a third): on two cores the two can overlap. The reader needs no
part of the run's transaction: its statements name the snapshots they read explicitly
(`flowscope.flows.correlation.reads`), events are never updated, and a connection opened
after the run took its snapshot sees every event visible in it. Writes stay on the run's own
connection and transaction, so a run still commits (or not) as a whole.

At most `depth` batches wait in the queue, so memory stays bounded by the batch bounds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine
from sqlalchemy.orm import Session

T = TypeVar("T")

Reader = Callable[[psycopg.Connection[Any]], Iterator[T]]

_DONE = object()


def pooled_connection(session: Session) -> AbstractContextManager[Any] | None:
    """Another pooled connection of the session's engine; None when there is none to spare
    (the pool stayed exhausted for its timeout: pages and queries share it) or the session is
    bound to one connection, as in some tests. Then the run does the work on its own."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return None
    try:
        return bind.connect()
    except sqlalchemy.exc.TimeoutError:
        return None


def driver(connection: Any) -> psycopg.Connection[Any]:
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)  # noqa: S101 - we only run on psycopg
    return driver


def batches(
    session: Session,
    own: psycopg.Connection[Any],
    reader: Reader[T],
    *,
    parallel: bool,
    depth: int = 2,
) -> Iterator[T]:
    """The items of `reader`, run on a second connection in a thread when `parallel` (and
    one is available), else on `own` inline. Leaving the loop early stops the reader."""
    opened = pooled_connection(session) if parallel else None
    if opened is None:
        yield from reader(own)
        return
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            with opened as connection:
                for item in reader(driver(connection)):
                    if not put(item):
                        return
                    if stop.is_set():
                        return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
            return
        put(_DONE)

    thread = threading.Thread(target=run, name="correlator-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
