"""Storing an imported log's batches, in file order, while the next batch is being read.

Reading and validating a log is Python work; storing a batch is mostly the database's. With a
background writer the two overlap: the reader hands over a batch and goes on, the writer stores
batches one after the other on the caller's session, so `seq` still follows the file order (the
order that breaks ties between equal timestamps in discovery and correlation). At most two
batches wait for the writer, so memory stays flat however fast the file is read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from flowscope.ingest.schemas import NewEvent
from flowscope.ingest.service import store_events

WAITING_BATCHES = 2


@dataclass(slots=True)
class ImportResult:
    read: int = 0
    stored: int = 0
    present: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


_Item = tuple[Sequence[NewEvent], int] | None


class BatchWriter:
    """`put(batch, position)` stores the batch (now, or on the writer thread), then calls
    `on_batch(position, result)`. `close()` waits for every batch and raises the writer's
    error, if any; `abandon()` (always, in a `finally`) stops the thread without waiting for
    the batches still queued."""

    def __init__(
        self,
        session: Session,
        result: ImportResult,
        on_batch: Callable[[int, ImportResult], None] | None,
        *,
        background: bool,
    ) -> None:
        self.session = session
        self.result = result
        self.on_batch = on_batch
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=WAITING_BATCHES)
        self._error: BaseException | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
            self._thread.start()

    def put(self, batch: Sequence[NewEvent], position: int) -> None:
        if self._thread is None:
            self._store(batch, position)
            return
        self._raise()
        self._queue.put((batch, position))  # blocks while two batches wait

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def abandon(self) -> None:
        if self._thread is not None:
            self._stop = True
            self._queue.put(None)  # never blocks for long: the writer drains the queue
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _store(self, batch: Sequence[NewEvent], position: int) -> None:
        stored, present = store_events(self.session, batch)
        self.result.stored += stored
        self.result.present += present
        if self.on_batch is not None:
            self.on_batch(position, self.result)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._stop:
                continue  # a batch after a failed or abandoned one is not stored
            try:
                self._store(*item)
            except BaseException as exc:  # handed to the reader by put() or close()
                self._error = exc
