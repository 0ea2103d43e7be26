"""Group commit for small ingest requests: concurrent requests share one insert and one commit.

With synchronous_commit on, every commit waits for a WAL flush, and each request that writes on
its own also pays a pool checkout, a round trip and a thread-pool hop. Small requests (single
events, short batches) are therefore handed to one writer thread per process, which takes
whatever has queued up while its previous statement ran and stores it with one statement
(`service.store_event_groups`). Each request is answered only after that statement has
committed, so a 2xx still means stored; no request waits for a timer, only for the statement
in progress. Large batches don't need this and keep writing on their own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flowscope.db import Database
from flowscope.ingest import service
from flowscope.ingest.schemas import NewEvent

log = logging.getLogger(__name__)

Result = tuple[int, int] | None
_Item = tuple[str, Sequence[NewEvent], asyncio.AbstractEventLoop, "asyncio.Future[Result]"]

IDLE_SECONDS = 30.0

# The database is away: retrying the requests one by one would only fail more slowly.
_UNAVAILABLE = (psycopg.OperationalError, OperationalError, PoolTimeout)


class GroupWriter:
    """One writer thread per process (started on first use) and the queue it drains."""

    def __init__(self, db: Database, scopes: Sequence[str], max_events: int = 2000) -> None:
        self.db = db
        self.scopes = list(scopes)
        self.max_events = max_events
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._writing_since: float | None = None  # monotonic start of the statement in progress

    def stuck_for(self) -> float:
        """Seconds the statement in progress has been running (0 when idle): requests queued
        behind a statement the database never answers would only wait for their deadline."""
        since = self._writing_since
        return 0.0 if since is None else time.monotonic() - since

    async def store(self, token_hash: str, events: Sequence[NewEvent]) -> Result:
        """Stored and committed (stored, duplicates), or None if the token may not write."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put((token_hash, events, loop, future))
        self._start()
        return await future

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:  # checked again: the writer may be retiring
                    self._thread = threading.Thread(
                        target=self._run, name="ingest-writer", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                if self._retire():
                    return
                continue
            group = [first]
            size = len(first[1])
            while size < self.max_events:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(item)
                size += len(item[1])
            self._writing_since = time.monotonic()
            try:
                self._write(group)
            except BaseException as exc:  # never let the writer die, nor a request hang
                log.exception("ingest writer failed")
                for item in group:
                    _settle(item, None, exc)  # no effect on requests already answered
            finally:
                self._writing_since = None

    def _retire(self) -> bool:
        """Let an idle writer end (apps in tests come and go); `store` starts a new one.

        `_thread` is cleared before the queue is looked at, under the lock `_start` takes, so an
        item put meanwhile is either seen here or finds no writer and starts one.
        """
        with self._lock:
            me, self._thread = self._thread, None
            if self._queue.empty():
                return True
            self._thread = me
            return False

    def _write(self, group: list[_Item]) -> None:
        # Requests that gave up waiting (the database hung past their deadline and they were
        # answered 503) are not stored late; a request cancelled just after this is, as before.
        group = [item for item in group if not item[3].cancelled()]
        if not group:
            return
        try:
            with service.autocommit_connection(self.db) as conn:
                results = service.store_event_groups(
                    conn, [(token, events) for token, events, _, _ in group], self.scopes
                )
        except Exception as exc:
            if len(group) > 1 and not isinstance(exc, _UNAVAILABLE):
                # Nothing was stored (one statement): find the request that caused it by
                # storing each on its own, so that the others still succeed.
                for item in group:
                    self._write([item])
                return
            for item in group:
                _settle(item, None, exc)
            return
        for item, result in zip(group, results, strict=True):
            _settle(item, result, None)


def _settle(item: _Item, result: Result, error: BaseException | None) -> None:
    loop, future = item[2], item[3]

    def settle() -> None:
        if future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the event loop is closed: the process is shutting down
        pass


def writer_for(app: Any, scopes: Sequence[str]) -> GroupWriter:
    writer: GroupWriter | None = getattr(app.state, "ingest_writer", None)
    if writer is None:
        writer = app.state.ingest_writer = GroupWriter(app.state.db, scopes)
    return writer
