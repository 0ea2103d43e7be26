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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ThreadSlots:
    """At most `size` threads, stuck ones included: work whose caller gave up before it
    started never runs; work already running goes on in its thread, abandoned."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)

    async def run(self, work: Callable[[], T], deadline: float) -> T:
        """`work()`'s result, or TimeoutError after `deadline` seconds."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        async with asyncio.timeout(deadline):
            return await future

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
