"""Discovery results kept until the provider's events change.

Discovery reads every event of a provider. Events are never updated, and only retention deletes
them, after moving the provider's horizon (`retention_providers.purged_before`) forward; so a
result stays true until a new event of the provider is stored or that horizon moves. Each
result is kept with the snapshot its statement ran in (`pg_current_snapshot()`), and is served
again while no event of the provider exists whose inserting transaction that snapshot did not
see: `txid >= xmin(snapshot) and not pg_visible_in_snapshot(txid, snapshot)`. That check walks
the `txid` index from the snapshot's xmin, so it reads only the events stored since (it stops at
the first one of the provider), and it also catches a transaction that was in progress when
the result was computed and committed later, which a comparison of `seq` values would miss.

Also dropped: a result computed by a transaction that had written itself (its own uncommitted
events count, and could still be rolled back), and any result once the events table has been
rewritten (`truncate`, as tests and benches do: its file node changes), and any result of a
provider whose retention horizon moved since.

The cache lives in the process (each worker has its own), holds at most `SIZE` results, least
recently used first out, and is keyed by database, provider, correlation field and window.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

SIZE = 32
Result = TypeVar("Result")  # discovery.Discovery (not imported here: discovery imports this)


class CacheKey(NamedTuple):
    database: str
    provider: str
    correlation: str
    start: datetime | None
    end: datetime | None


class Seen(NamedTuple):
    """What a result was computed from: the snapshot, the events table's file node,
    whether the computing transaction had written (then the result is not kept), and the
    provider's retention horizon as text (None: retention never deleted any of its events)."""

    snapshot: str
    table: int
    writing: bool
    purged: str | None = None


_CHANGED = text(
    """
    select pg_relation_filenode('events')::bigint is distinct from cast(:table as bigint)
        or (select purged_before::text from retention_providers where provider = :provider)
            is distinct from cast(:purged as text)
        or exists (
            select 1 from events
            where txid >= pg_snapshot_xmin(cast(:snapshot as pg_snapshot))
              and provider = :provider
              and not pg_visible_in_snapshot(txid, cast(:snapshot as pg_snapshot))
        )
    """
)


def database_of(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


class DiscoveryCache(Generic[Result]):
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[CacheKey, tuple[Seen, Result]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, key: CacheKey) -> Result | None:
        """The kept result, if no event of its provider was stored since it was computed."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        seen, found = entry
        changed = session.execute(
            _CHANGED,
            {
                "table": seen.table,
                "snapshot": seen.snapshot,
                "provider": key.provider,
                "purged": seen.purged,
            },
        ).scalar_one()
        with self._lock:
            if changed:
                if self._entries.get(key) is entry:
                    del self._entries[key]
                return None
            if key in self._entries:
                self._entries.move_to_end(key)
        return found

    def put(self, key: CacheKey, seen: Seen, found: Result) -> None:
        if seen.writing:
            return
        with self._lock:
            self._entries[key] = (seen, found)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
