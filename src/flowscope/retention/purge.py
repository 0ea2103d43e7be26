"""A retention run: delete the events older than their provider's retention, in batches.

Order of a run, and why:

1. List the (provider, type) pairs that have events: one index probe per pair on
   `ix_events_provider_type_timestamp` (a loose index scan written as plain statements).
2. Move every provider's horizon (`retention_providers.purged_before`) forward to its cutoff
   and commit. From then on ingest refuses those events (the insert statement checks the
   horizon, see `flowscope.ingest.service`).
3. Wait until no statement that started before that commit is still running: one of them may
   have read the old horizon, and must have finished before its event is deleted, or a
   re-sent event could be stored again just after its deletion.
4. Per provider, delete its oldest events before the cutoff, `batch_size` per transaction:
   the oldest `batch_size` of each of its types by an index range scan (provider, type,
   timestamp < cutoff), merged by time (so the events of one flow instance, whatever their
   types, mostly go in one batch and the instance is deleted, not recomputed once per type).
   Delete them by primary key, delete their memberships (`ix_flow_events_seq`) and re-derive
   the touched flow instances (`flowscope.retention.derived`). Each batch holds the
   correlator's lock, so a correlator run never works from memberships a batch is deleting;
   after each batch the run pauses as long as the batch took, which leaves the correlator
   (and the database) room. Ingest never waits: it takes no lock retention holds.
5. Stop when the time budget is used up; the next run continues where this one stopped.

Only statements Citus runs on distributed tables are used: single-table deletes by key
arrays, no joins between `events` and the flow tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.db import Database, transaction
from flowscope.flows.correlation import builds
from flowscope.flows.correlation.correlator import LOCK_ID
from flowscope.flows.correlation.statements import statements_for
from flowscope.metrics import RETENTION_DELETED
from flowscope.retention.derived import Removed, forget_memberships, raw, rederive
from flowscope.retention.rules import Rules, load_rules

log = logging.getLogger(__name__)

_FIRST_KIND = text("select provider, type from events order by provider, type limit 1")
_NEXT_KIND = text(
    "select provider, type from events where (provider, type) > (:p, :t) "
    "order by provider, type limit 1"
)
_ADVANCE = text(
    """
    insert into retention_providers as r (provider, purged_before)
    select * from unnest(cast(:providers as text[]), cast(:cutoffs as timestamptz[]))
    on conflict (provider) do update
      set purged_before = greatest(r.purged_before, excluded.purged_before)
    returning provider, purged_before
    """
)
_OLDER_STATEMENTS = text(
    """
    select count(*) from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid()
      and backend_type = 'client backend' and state = 'active' and query_start < :since
    """
)
_DUE = text(
    """
    select seq, "timestamp" from events
    where provider = :p and type = :t and "timestamp" < :cutoff
    order by "timestamp"
    limit :n
    """
)
_DELETE_EVENTS = text("delete from events where provider = :p and seq = any(:seqs) returning seq")


@dataclass
class RunResult:
    events: int = 0
    removed: Removed = field(default_factory=Removed)
    batches: int = 0
    largest_batch: int = 0
    slowest_batch_s: float = 0.0  # the longest transaction (locks held, the correlator waits)
    complete: bool = False  # every event due was deleted (else the budget ran out first)
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            **dict(sorted(self.removed.rows.items())),
            "instances_recomputed": self.removed.recomputed,
            "batches": self.batches,
            "complete": self.complete,
        }


def list_kinds(session: Session) -> list[tuple[str, str]]:
    """The distinct (provider, type) pairs of stored events, one index probe each."""
    kinds: list[tuple[str, str]] = []
    row = session.execute(_FIRST_KIND).first()
    while row is not None:
        kinds.append((row[0], row[1]))
        row = session.execute(_NEXT_KIND, {"p": row[0], "t": row[1]}).first()
    return kinds


def advance_horizons(
    session: Session, providers: Sequence[str], rules: Rules, now: datetime
) -> dict[str, datetime]:
    """Move each provider's horizon forward to its cutoff (never back); returns them, for
    the providers whose events are not kept forever."""
    due = [(p, rules.cutoff(p, now)) for p in providers if rules.days_for(p)]
    if not due:
        return {}
    params = {"providers": [p for p, _ in due], "cutoffs": [c for _, c in due]}
    rows = session.execute(_ADVANCE, params).all()
    return dict(rows)


def wait_for_older_statements(db: Database, since: datetime, timeout: float) -> bool:
    """True once no statement begun before `since` runs in this database (False: timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with transaction(db.sessions) as session:
            running = session.execute(_OLDER_STATEMENTS, {"since": since}).scalar_one()
        if not running:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def purge_batch(
    session: Session,
    provider: str,
    types: set[str],
    cutoff: datetime,
    batch_size: int,
    doomed_before: datetime | None = None,
) -> tuple[int, Removed]:
    """Delete up to `batch_size` of the oldest events of `provider` (of `types`) before
    `cutoff`, with their memberships and derived rows, in the caller's transaction.

    Removes from `types` the types that have no events before `cutoff` left."""
    session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": LOCK_ID})
    due: list[tuple[datetime, int, str]] = []
    for type_ in sorted(types):
        params = {"p": provider, "t": type_, "cutoff": cutoff, "n": batch_size}
        rows = session.execute(_DUE, params).all()
        due += [(ts, seq, type_) for seq, ts in rows]
        if len(rows) < batch_size:
            types.discard(type_)  # all of its due events are in this batch's candidates
    due.sort()
    taken, rest = due[:batch_size], due[batch_size:]
    types.update(type_ for _, _, type_ in rest)  # a type with some left over is not done
    seqs = [seq for _, seq, _ in taken]
    if not seqs:
        return 0, Removed()
    deleted = len(session.execute(_DELETE_EVENTS, {"p": provider, "seqs": seqs}).all())
    conn = raw(session)
    memberships, touched = forget_memberships(conn, seqs)
    removed = Removed()
    if touched:
        flows = {build.id: flow for build, flow in builds.load_active(session)}
        removed = rederive(conn, touched, flows, statements_for(session), doomed_before)
    removed.rows["flow_events"] += memberships
    return deleted, removed


def run_retention(
    db: Database,
    *,
    default_days: int,
    batch_size: int = 1000,
    budget_seconds: float = 60.0,
    now: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_batch: Callable[[int], None] | None = None,
) -> RunResult:
    """One run (see the module docstring); `now` is the time retention is measured from."""
    started = clock()
    now = now or datetime.now(UTC)
    result = RunResult()
    with transaction(db.sessions) as session:
        kinds = list_kinds(session)
        rules = load_rules(session, default_days)
    with transaction(db.sessions) as session:
        horizons = advance_horizons(session, sorted({p for p, _ in kinds}), rules, now)
    with transaction(db.sessions) as session:
        since = session.execute(text("select clock_timestamp()")).scalar_one()
    waited = clock()
    if not wait_for_older_statements(db, since, max(budget_seconds - (waited - started), 0.0)):
        log.warning("retention: statements older than the new horizons still run; next run")
        return result
    result.waited_s = clock() - waited
    types_of: dict[str, set[str]] = {}
    for provider, type_ in kinds:
        types_of.setdefault(provider, set()).add(type_)
    # Memberships older than this are past every provider's retention: this run deletes them.
    kept_forever = any(p not in horizons for p in types_of)
    doomed_before = None if kept_forever else min(horizons.values(), default=None)
    for provider, types in types_of.items():
        while provider in horizons and types:  # else kept forever, or done
            if clock() - started >= budget_seconds:
                return result
            began = time.monotonic()
            with transaction(db.sessions) as session:
                deleted, removed = purge_batch(
                    session, provider, types, horizons[provider], batch_size, doomed_before
                )
            took = time.monotonic() - began
            result.slowest_batch_s = max(result.slowest_batch_s, took)
            _count(result, deleted, removed)
            if on_batch is not None:
                on_batch(deleted)
            if deleted < batch_size:
                break
            time.sleep(took)  # as long again for everybody else
    result.complete = True
    return result


def _count(result: RunResult, deleted: int, removed: Removed) -> None:
    if not deleted:
        return
    result.events += deleted
    result.batches += 1
    result.largest_batch = max(result.largest_batch, deleted)
    result.removed.add(removed)
    RETENTION_DELETED.labels("events").inc(deleted)
    for table, n in removed.rows.items():
        if n > 0:
            RETENTION_DELETED.labels(table).inc(n)
