"""The correlator's watermark: which inserting transactions a run may count as done.

On one server a run counts as done exactly the transactions visible in its snapshot
(`pg_current_snapshot()`); see `flowscope.flows.correlation.correlator`.

On Citus that is not enough. `events.txid` is the coordinator's transaction id (the default
is evaluated on the coordinator), and a transaction that wrote to shards on more than one
worker commits in two phases: PREPARE on every worker, COMMIT on the coordinator, then
COMMIT PREPARED on every worker. Between the last two its id is visible in a coordinator
snapshot while its rows are not yet visible on the workers: a run would count it as done,
read nothing from it, and never look at it again (the issue measured 174 of 7,320 events
lost with a 100 ms delay before the workers' commits). A transaction that wrote on one worker
only commits there *before* the coordinator (in its pre-commit), so it is never early.

The fix keeps the single-server reasoning and only shrinks the snapshot: a run *certifies*
its coordinator snapshot before using it, by treating every transaction that may still be
pending on a worker as if it were still running (added to the snapshot's `xip` list). The
existing machinery then reads its events on a later run, once it is visible everywhere.

Which transactions may be pending: Citus writes a record into `pg_dist_transaction` on the
coordinator, *inside* the distributed transaction (so its `xmin` is that transaction's id and
it is committed atomically with it), for every worker it prepared on; the record's `gid` is
the name of the prepared transaction on that worker, which stays listed in the worker's
`pg_prepared_xacts` until COMMIT PREPARED has made its rows visible (PostgreSQL removes the
entry only after the commit is visible). Citus' recovery deletes the record only after the
prepared transaction is gone. So, with the snapshot S taken first, then the records read, then
every worker's pending gids:

  * T visible in S, with a record whose gid is still pending on a worker → held back (`xip`);
  * T visible in S, otherwise → its worker commits had completed when the gids were read
    (or its record was deleted by recovery, which happens after the commit), so every row of
    T is visible to the reads that follow in the run.

The workers are asked only when a record's transaction is visible in S and not yet visible in
every snapshot certified before (the builds' stored snapshots): with no 2PC writes since the
last run, certifying costs two small coordinator-local queries.

Held-back transactions are, by construction, among the ones whose `finished` events the next
runs read; snapshots still only grow (a transaction once certified never becomes pending
again), so nothing is read twice or skipped. If a worker does not answer, every transaction
that still has a record is held back (records live until recovery has resolved them), which
delays correlation and never loses events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

# The distributed transactions with a prepared part on a worker that may not be committed yet:
# Citus deletes a record only after its recovery found the prepared transaction resolved.
_RECORDS = "select gid, xmin::text::bigint from pg_dist_transaction"
# Snapshots already certified: what is visible in all of them needs no second look.
_CERTIFIED = "select snapshot from flow_builds where state in ('building', 'ready')"
# The names of the transactions prepared and not yet committed, per worker.
_PREPARED = """
select success, result
from run_command_on_workers($$
  select coalesce(string_agg(gid, ' '), '') from pg_prepared_xacts
  where database = current_database()
$$)
"""


@dataclass(frozen=True)
class Snapshot:
    """A transaction snapshot as PostgreSQL prints it: `xmin:xmax:xip1,xip2,…`."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]

    @classmethod
    def parse(cls, value: str) -> Snapshot:
        xmin, xmax, xip = value.split(":")
        return cls(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"

    def visible(self, txid: int) -> bool:
        return txid < self.xmin or (txid < self.xmax and txid not in self.xip)

    def holding_back(self, txids: set[int]) -> Snapshot:
        """This snapshot with the visible ones among `txids` counted as still running."""
        held = {t for t in txids if self.visible(t)}
        if not held:
            return self
        xip = tuple(sorted(set(self.xip) | held))
        return Snapshot(min(self.xmin, xip[0]), self.xmax, xip)

    def full_xid(self, xid32: int) -> int:
        """The 64-bit id of a recent transaction known by its 32-bit id (a row's `xmin`):
        the one at or below this snapshot's `xmax` with those low bits."""
        candidate = (self.xmax & ~0xFFFFFFFF) | xid32
        return candidate - (1 << 32) if candidate > self.xmax else candidate


def take(conn: psycopg.Connection[Any], *, distributed: bool) -> Snapshot:
    """The snapshot this run counts as done: the current one, certified on Citus."""
    with conn.cursor() as cur:
        cur.execute("select pg_current_snapshot()::text")
        row = cur.fetchone()
        assert row is not None  # noqa: S101
        snapshot = Snapshot.parse(row[0])
        if not distributed:
            return snapshot
        return snapshot.holding_back(_pending(cur, snapshot))


def _pending(cur: psycopg.Cursor[Any], snapshot: Snapshot) -> set[int]:
    """The transactions visible in `snapshot` that may still be committing on a worker.

    Asking the workers costs new connections (~0.1 s), so they are asked only about records
    that matter: visible in `snapshot`, and not already visible in every snapshot certified
    before (a transaction certified once has committed everywhere for good)."""
    cur.execute(_CERTIFIED)
    certified = [Snapshot.parse(r[0]) for r in cur.fetchall()]
    cur.execute(_RECORDS)
    candidates: dict[str, int] = {}
    for gid, xmin in cur.fetchall():
        txid = snapshot.full_xid(int(xmin))
        if snapshot.visible(txid) and not (certified and all(c.visible(txid) for c in certified)):
            candidates[str(gid)] = txid
    if not candidates:
        return set()
    cur.execute(_PREPARED)
    answers = cur.fetchall()
    if not all(success for success, _ in answers):  # a worker did not answer: keep them all
        return set(candidates.values())
    prepared = {gid for _, result in answers for gid in str(result).split()}
    return {txid for gid, txid in candidates.items() if gid in prepared}
