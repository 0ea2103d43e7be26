"""Recompute the oracle files (`*.expected.json`) of this folder with pm4py. Run by hand, never
by CI or pytest (pm4py is not a dependency of Flowscope):

    python3 -m venv /tmp/pm4py-venv && /tmp/pm4py-venv/bin/pip install pm4py==2.7.23.11
    /tmp/pm4py-venv/bin/python tests/data/compute_oracle.py           # compare with the files
    /tmp/pm4py-venv/bin/python tests/data/compute_oracle.py --write   # rewrite them

Every figure comes from pm4py's own functions on the log as pm4py reads it (a case's events
ordered by timestamp; equal timestamps keep their order in the file). Ties in the top-N lists
are broken by name, so that the lists do not depend on dictionary order.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pm4py

HERE = Path(__file__).resolve().parent
CASE, ACTIVITY, TIME = "case:concept:name", "concept:name", "time:timestamp"


def read(name: str) -> pd.DataFrame:
    path = HERE / name
    if name.endswith(".xes.gz"):
        return pm4py.read_xes(str(path))
    frame = pd.read_csv(path, dtype={CASE: str})
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True, format="ISO8601")
    # format_dataframe sorts by case, timestamp and original row: file order breaks ties.
    return pm4py.format_dataframe(frame, case_id=CASE, activity_key=ACTIVITY, timestamp_key=TIME)


def figures(log: pd.DataFrame) -> dict[str, Any]:
    dfg, starts, ends = pm4py.discover_dfg(log)
    variants = pm4py.get_variants(log)  # activity tuple -> number of cases
    durations = pm4py.get_all_case_durations(log)  # last minus first event, in seconds
    events = pm4py.get_event_attribute_values(log, ACTIVITY)
    cases = pm4py.get_event_attribute_values(log, ACTIVITY, count_once_per_case=True)
    top_variants = sorted(variants.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    top_edges = sorted(dfg.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {
        "cases": int(log[CASE].nunique()),
        "events": len(log),
        "activities": len(events),
        "variants": len(variants),
        "df_edges": len(dfg),
        "start_activities": {a: int(n) for a, n in starts.items()},
        "end_activities": {a: int(n) for a, n in ends.items()},
        "mean_case_duration_s": round(statistics.fmean(durations), 3),
        "median_case_duration_s": round(statistics.median(durations), 3),
        "activity_events": {a: int(n) for a, n in events.items()},
        "activity_cases": {a: int(n) for a, n in cases.items()},
        "top_variants": [[list(v), int(n)] for v, n in top_variants],
        "top_edges": [[a, b, int(n)] for (a, b), n in top_edges],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the *.expected.json files")
    args = parser.parse_args()
    differ = 0
    for log_name, oracle_name in (
        ("helpdesk.xes.gz", "helpdesk.expected.json"),
        ("receipt.csv.gz", "receipt.expected.json"),
    ):
        got = figures(read(log_name))
        oracle = HERE / oracle_name
        if args.write:
            oracle.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
            continue
        expected = json.loads(oracle.read_text())
        for key in sorted(expected.keys() | got.keys()):
            same = expected.get(key) == got.get(key)
            differ += not same
            line = f"{oracle_name} {key}: " + ("same" if same else f"{got.get(key)!r} differs")
            sys.stdout.write(line + "\n")
    sys.stdout.write(f"pm4py {pm4py.__version__}: {differ} figure(s) differ\n")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
