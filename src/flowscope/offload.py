"""Blocking database work in threads, with a deadline for the caller and a bound on threads.

A database that hangs with its connections open (no error, no answer) blocks every thread that
talks to it until the server wakes up or TCP gives up. Callers must still answer (503), so they
stop waiting at a deadline and abandon the thread; but then the thread must keep counting
against the limit until it really ends, or each new request during the outage would start
another thread (anyio's limiters are released when the caller gives up, not when the thread
ends).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Full(Exception):
    """So much work waits already that more would only wait past its deadline (and hold its
    request body meanwhile)."""


class ThreadSlots:
    """At most `size` threads, stuck ones included, and at most `backlog` pieces of work
    waiting for one. Work whose caller gave up before it started never runs and keeps nothing
    alive; work already running goes on in its thread, abandoned."""

    def __init__(self, size: int, name: str, backlog: int) -> None:
        self.size = size
        self.limit = size + backlog
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._outstanding = 0  # queued or running, abandoned ones included
        self._lock = threading.Lock()

    async def run(self, work: Callable[[], T], deadline: float) -> T:
        """`work()`'s result, TimeoutError after `deadline` seconds, or Full at once."""
        with self._lock:
            if self._outstanding >= self.limit:
                raise Full
            self._outstanding += 1
        box: list[Callable[[], T] | None] = [work]
        submitted = self._executor.submit(_unbox, box)
        submitted.add_done_callback(self._finished)  # runs on cancel, too
        try:
            async with asyncio.timeout(deadline):
                return await asyncio.wrap_future(submitted)
        finally:
            box[0] = None  # a queued item no longer holds the work (and the body it carries)

    def _finished(self, _: Future[T]) -> None:
        with self._lock:
            self._outstanding -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _unbox(box: list[Callable[[], T] | None]) -> T:
    work = box[0]
    if work is None:  # its caller has given up (cancel() lost the race with the worker)
        raise asyncio.CancelledError
    return work()
