"""The watermark's snapshot arithmetic (the Citus certification's building blocks)."""

from __future__ import annotations

from flowscope.flows.correlation.watermark import Snapshot


def test_holding_back_counts_visible_transactions_as_running() -> None:
    snapshot = Snapshot.parse("100:110:103,107")
    held = snapshot.holding_back({95, 104, 107, 112})
    # 95 and 104 were visible: now they are not; 107 already ran, 112 is beyond xmax
    assert str(held) == "95:110:95,103,104,107"
    assert [t for t in (95, 96, 104, 105) if held.visible(t)] == [96, 105]
    # what it holds back stays readable as "finished since" by the next, later snapshot
    later = Snapshot.parse("108:120:")
    assert [t for t in held.xip if later.visible(t)] == [95, 103, 104, 107]


def test_holding_back_nothing_visible_is_the_same_snapshot() -> None:
    snapshot = Snapshot.parse("100:110:103")
    assert snapshot.holding_back({103, 110, 250}) is snapshot


def test_full_xid_takes_the_epoch_of_the_snapshot() -> None:
    epoch = 7 << 32
    snapshot = Snapshot(epoch + 500, epoch + 600, ())
    assert snapshot.full_xid(550) == epoch + 550
    # just below an epoch boundary: a 32-bit id above xmax's low bits is from the epoch before
    wrapped = Snapshot(epoch + 5, epoch + 10, ())
    assert wrapped.full_xid(0xFFFFFFF0) == epoch - 16
