"""Event logs for bench/import.py and bench/discover.py (a helper, also runnable on its own).

    .venv/bin/python bench/eventlogs.py [--copies 12] [OUT.xes.gz]

The BPI Challenge 2012 log is not on this machine (/work/shared/data holds the two test logs),
so the large log is the real help desk log (tests/data/helpdesk.xes.gz: 4,580 cases, 21,348
events, 12 attributes per event) written `copies` times with the case ids made distinct
(`Case 7` → `Case 7/3`): 12 copies are 256,176 events in 54,960 cases, the size of BPIC 2012
(262,200 events), with the real log's variants, gaps and attribute widths.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import tempfile
from pathlib import Path

HELPDESK = Path(__file__).resolve().parent.parent / "tests" / "data" / "helpdesk.xes.gz"
_TRACE = re.compile(rb"<trace>.*?</trace>", re.DOTALL)
_CASE = re.compile(rb'(<trace>\s*<string key="concept:name" value=")([^"]*)(")')


def synthetic_xes(out: Path, copies: int, source: Path = HELPDESK) -> tuple[int, int]:
    """Write `copies` copies of `source` with distinct case ids; returns (cases, events)."""
    text = gzip.decompress(source.read_bytes())
    first = _TRACE.search(text)
    assert first is not None
    head, body_end = text[: first.start()], text.rfind(b"</log>")
    traces = _TRACE.findall(text, first.start(), body_end)
    events = sum(t.count(b"<event>") for t in traces)
    with gzip.open(out, "wb", compresslevel=6) as f:
        f.write(head)
        for k in range(copies):
            suffix = f"/{k}".encode()
            for trace in traces:
                f.write(_CASE.sub(lambda m, s=suffix: m[1] + m[2] + s + m[3], trace, count=1))
                f.write(b"\n\t")
        f.write(b"</log>\n")
    return len(traces) * copies, events * copies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(tempfile.gettempdir()) / "flowscope-bench-helpdesk-x12.xes.gz"
    parser.add_argument("out", nargs="?", default=str(default))
    parser.add_argument("--copies", type=int, default=12)
    args = parser.parse_args()
    cases, events = synthetic_xes(Path(args.out), args.copies)
    print(f"{args.out}: {cases:,} cases, {events:,} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
