"""Deadlines on the hot path: one timer per event loop for everything that waits, not one each.

`asyncio.timeout()` and `loop.call_later()` arm and cancel a timer per use; on the ingest path
(header timeout, body timeout, database deadline) that cost ~25 us of server CPU per
single-event request (bench/ingest.py, 2 busy cores), about 6 %. Here a deadline is a dict
entry, and one timer looks at them all every RESOLUTION seconds: deadlines fire up to that
late, which is fine for limits counted in seconds.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from types import TracebackType

RESOLUTION = 0.25  # seconds


class Sweeper:
    """Calls each key's `expire` once its deadline has passed, unless it was discarded."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[Hashable, tuple[float, Callable[[], None]]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, key: Hashable, seconds: float, expire: Callable[[], None]) -> None:
        self._due[key] = (self._loop.time() + seconds, expire)
        if self._timer is None:
            self._timer = self._loop.call_later(RESOLUTION, self._sweep)

    def discard(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due

    def _sweep(self) -> None:
        now = self._loop.time()
        expired = [(key, expire) for key, (due, expire) in self._due.items() if due <= now]
        for key, expire in expired:
            del self._due[key]
            expire()
        self._timer = self._loop.call_later(RESOLUTION, self._sweep) if self._due else None


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweeper] = (
    weakref.WeakKeyDictionary()
)


def sweeper(loop: asyncio.AbstractEventLoop) -> Sweeper:
    found = _sweepers.get(loop)
    if found is None:
        found = _sweepers[loop] = Sweeper(loop)
    return found


class within:  # noqa: N801 - used like asyncio.timeout
    """`with within(seconds): await ...` raises TimeoutError when the awaits inside take
    longer (up to RESOLUTION late). Not nestable within one task."""

    __slots__ = ("_expired", "_seconds", "_sweeper", "_task")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._expired = False

    def __enter__(self) -> within:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None  # noqa: S101 - called from a coroutine
        self._task = task
        self._sweeper = sweeper(loop)
        self._sweeper.add(self, self._seconds, self._expire)
        return self

    def _expire(self) -> None:
        # The sweeper only sees entries still inside their block, so the task is suspended at
        # an await inside it and the CancelledError arrives there.
        self._expired = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._sweeper.discard(self)
        if self._expired and exc_type is asyncio.CancelledError:
            self._task.uncancel()
            raise TimeoutError from None
