"""What each provider keeps: the retention rules, and the copy of them ingest checks against.

A provider's *cutoff* is the later of `now - days` (its override, else the default; 0 keeps
its events forever) and its horizon (`purged_before`, the latest cutoff a retention run
applied). Ingest refuses events
older than the cutoff, so an event is refused exactly when retention would delete it, and one
that retention deleted is never stored again (the horizon never moves back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.db import Database
from flowscope.retention.models import RetentionProvider

log = logging.getLogger(__name__)

MAX_DAYS = 36_500  # a hundred years; 0 keeps events forever


@dataclass(frozen=True)
class Rules:
    default_days: int
    days: dict[str, int] = field(default_factory=dict)  # overrides
    horizons: dict[str, datetime] = field(default_factory=dict)

    def days_for(self, provider: str) -> int:
        return self.days.get(provider, self.default_days)

    def cutoff(self, provider: str, now: datetime) -> datetime | None:
        """Events of `provider` strictly older than this are deleted, and refused at ingest
        (None: none are)."""
        days = self.days_for(provider)
        cutoffs = [c for c in (self.horizons.get(provider),) if c is not None]
        if days:
            cutoffs.append(now - timedelta(days=days))
        return max(cutoffs, default=None)

    def refusal(self, now: datetime) -> Callable[[str, datetime], str | None]:
        """For validation: why an event of (provider, timestamp) is refused, or None."""

        def check(provider: str, ts: datetime) -> str | None:
            cutoff = self.cutoff(provider, now)
            if cutoff is None or ts >= cutoff:
                return None
            days = self.days_for(provider)
            kept = f"{days} days" if days else "kept forever, after older ones were deleted"
            return (
                f"is older than the retention of provider {provider!r} ({kept}): events "
                f"before {cutoff.isoformat(timespec='seconds')} are not accepted"
            )

        return check


def load_rules(session: Session, default_days: int) -> Rules:
    rows = session.execute(
        select(RetentionProvider.provider, RetentionProvider.days, RetentionProvider.purged_before)
    ).all()
    return Rules(
        default_days,
        {p: d for p, d, _ in rows if d is not None},
        {p: h for p, _, h in rows if h is not None},
    )


class RulesCache:
    """The rules as ingest sees them: read again in the background once `ttl` has passed.

    Ingest must not wait on the database for this (small requests are parsed on the event
    loop), so a stale copy is used while a thread reads the new one. Until the first read
    succeeds nothing is refused by age here; the insert statement still refuses events older
    than a provider's horizon (see `flowscope.ingest.service`), which is what keeps deleted
    events out. A change made through this process is seen at once (`invalidate`).
    """

    def __init__(self, db: Database, default_days: int, ttl: float = 5.0) -> None:
        self.db = db
        self.default_days = default_days
        self.ttl = ttl
        self._rules: Rules | None = None
        self._loaded_at = float("-inf")
        self._loading = False
        self._lock = threading.Lock()

    def current(self) -> Rules | None:
        if time.monotonic() - self._loaded_at > self.ttl:
            self._refresh_in_background()
        return self._rules

    def load(self) -> Rules:
        """Read the rules now (a thread, the CLI or a test)."""
        with self.db.sessions() as session:
            rules = load_rules(session, self.default_days)
        self._rules, self._loaded_at = rules, time.monotonic()
        return rules

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._loading:
                return
            self._loading = True
        threading.Thread(target=self._refresh, name="retention-rules", daemon=True).start()

    def _refresh(self) -> None:
        try:
            self.load()
        except Exception:  # the database is away: keep the old copy, try again next request
            log.warning("could not read the retention rules", exc_info=True)
            self._loaded_at = time.monotonic()
        finally:
            self._loading = False


def rules_cache(app: Any) -> RulesCache:
    """The app's `RulesCache` (made on first use, from `app.state.db` and its settings)."""
    cache: RulesCache | None = getattr(app.state, "retention_rules", None)
    if cache is None:
        cache = RulesCache(app.state.db, app.state.settings.retention_days)
        app.state.retention_rules = cache
    return cache
