"""Import benchmark (run by hand): `flowscope import-log` against HTTP batch ingest, same run.

    .venv/bin/python bench/import.py [--copies 12] [--duration 10] [--jobs 2] [--no-pm4py]

1. Baseline: HTTP batch ingest (500-event batches from 8 clients, bench/ingest.py's load) into
   `flowscope serve` for `--duration` seconds: acknowledged events/s.
2. `flowscope import-log` (a subprocess, as a user runs it) of a synthetic log of `--copies`
   copies of the real help desk log (bench/eventlogs.py; 12 copies ≈ BPIC 2012's size), and of
   one a quarter of its size: events/s, ratio to the baseline (target >= 0.5), and the
   importer's peak RSS for both files (memory flat in the file's size: the two peaks close).
3. pm4py's XES reader on the same file, when pm4py is installed (not a dependency).

Uses FLOWSCOPE_BENCH_DATABASE_URL, else 127.0.0.1:5432; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eventlogs import synthetic_xes  # noqa: E402

from ingest import (  # noqa: E402
    Server,
    admin_conninfo,
    batch_template,
    count_events,
    cpu_meter,
    flowscope_bin,
    free_port,
    run_clients,
    to_url,
    truncate_events,
    with_database,
)

TARGET_RATIO = 0.5


def import_log(env: dict[str, str], path: Path, jobs: int, conninfo: str) -> ImportRun:
    """One `flowscope import-log` run: events stored, seconds, peak RSS, CPU seconds."""
    cmd = [flowscope_bin(), "import-log", str(path), "--provider", "bench", "--jobs", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    backends: dict[int, int] = {}  # the import's backends exit with it: sampled meanwhile
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            pid_done, status, usage = os.wait4(proc.pid, os.WNOHANG)  # keeps the child's rusage
            if pid_done:
                break
            pids = conn.execute(
                "select pid from pg_stat_activity where datname = current_database() "
                "and pid <> pg_backend_pid()"
            ).fetchall()
            for (pid,) in pids:
                backends[pid] = max(backends.get(pid, 0), _ticks(pid))
            time.sleep(0.1)
    elapsed = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"import-log failed: {out}")
    stored = int(out.split(":")[1].split("stored")[0].strip())
    return ImportRun(
        stored,
        elapsed,
        usage.ru_maxrss,
        usage.ru_utime + usage.ru_stime,
        sum(backends.values()) / os.sysconf("SC_CLK_TCK"),
    )


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


@dataclass
class ImportRun:
    stored: int
    seconds: float
    rss_kb: int
    cpu_seconds: float  # the import-log process, start-up included
    postgres_seconds: float  # its backends, sampled every 0.1 s (the last tenth is lost)


def pm4py_read(path: Path) -> float | None:
    """Seconds pm4py.read_xes takes for the file (in a subprocess), or None without pm4py."""
    code = (
        "import sys, time, pm4py; t = time.perf_counter(); "
        "log = pm4py.read_xes(sys.argv[1]); print(time.perf_counter() - t, len(log))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        return None
    return float(run.stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=12, help="help desk log copies (12)")
    parser.add_argument("--duration", type=float, default=10.0, help="HTTP phase seconds (10)")
    parser.add_argument("--jobs", type=int, default=2, help="import-log --jobs (2)")
    parser.add_argument("--no-pm4py", action="store_true", help="skip pm4py's reader")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="flowscope-bench-import-"))
    big, small = work / "big.xes.gz", work / "small.xes.gz"
    cases, events = synthetic_xes(big, args.copies)
    _, small_events = synthetic_xes(small, max(1, args.copies // 4))
    admin = admin_conninfo()
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    conninfo = with_database(admin, name)
    env = {**os.environ, "FLOWSCOPE_DATABASE_URL": to_url(conninfo)}
    env["FLOWSCOPE_BOOTSTRAP_ADMIN"] = "false"
    server: Server | None = None
    try:
        port = free_port()
        server = Server(env, port, 1, [])
        token = subprocess.run(
            [flowscope_bin(), "tokens", "create", "--name", "bench", "--scope", "events:write"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        print(f"import bench: {os.cpu_count()} cores, load average {os.getloadavg()}")
        print(
            f"  log: {args.copies} copies of the help desk log, {cases:,} cases, {events:,} "
            f"events, {big.stat().st_size / 1e6:.1f} MB gzipped; small: {small_events:,} events"
        )
        truncate_events(conninfo)
        template = batch_template(500, datetime.now(UTC) - timedelta(minutes=5))
        with cpu_meter(server.proc.pid, conninfo) as cpu:
            tally = run_clients(port, token, template, 500, 8, 2, 1.0, args.duration)
        http_rate = tally.acked_events / args.duration
        http_server_us = cpu.server * cpu.seconds * 1e6 / max(tally.all_events, 1)
        http_postgres_us = cpu.postgres * cpu.seconds * 1e6 / max(tally.all_events, 1)
        print(
            f"  HTTP batch ingest (baseline): {http_rate:,.0f} events/s; CPU per event: server "
            f"{http_server_us:.0f} us, postgres {http_postgres_us:.0f} us"
        )
        print(f"    {cpu.describe(tally.cpu_seconds)}")
        server.stop()
        server = None

        truncate_events(conninfo)
        small_run = import_log(env, small, args.jobs, conninfo)
        truncate_events(conninfo)
        run = import_log(env, big, args.jobs, conninfo)
        stored, seconds = run.stored, run.seconds
        assert stored == events == count_events(conninfo), (stored, events)  # noqa: S101
        rate = stored / seconds
        ratio = rate / http_rate
        print(
            f"  import-log --jobs {args.jobs}: {rate:,.0f} events/s ({seconds:.1f} s), ratio "
            f"{ratio:.2f} to HTTP (target >= {TARGET_RATIO}: "
            f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})"
        )
        # CPU per event holds up better than rates on a shared machine. The process's start-up
        # (imports, migrations check: the small run's cost minus its share) is left out.
        per_event = (run.cpu_seconds - small_run.cpu_seconds) / (stored - small_run.stored)
        print(
            f"    CPU per event: import-log {per_event * 1e6:.0f} us (start-up "
            f"{run.cpu_seconds - per_event * stored:.1f} s left out), postgres "
            f"{run.postgres_seconds * 1e6 / stored:.0f} us; HTTP: server {http_server_us:.0f} us,"
            f" postgres {http_postgres_us:.0f} us"
        )
        print(
            f"  peak RSS: {small_run.rss_kb / 1024:.0f} MB for {small_run.stored:,} events "
            f"({small_run.stored / small_run.seconds:,.0f} events/s), {run.rss_kb / 1024:.0f} MB "
            f"for {stored:,} events: {run.rss_kb / small_run.rss_kb:.2f}x for "
            f"{stored / small_run.stored:.1f}x the file"
        )
        if not args.no_pm4py:
            read = pm4py_read(big)
            if read is None:
                print("  pm4py: not installed (pip install pm4py into the venv to compare)")
            else:
                print(
                    f"  pm4py.read_xes (parse only, nothing stored): {events / read:,.0f} "
                    f"events/s ({read:.1f} s); import-log is {read / seconds:.2f}x its speed"
                )
        print(f"  load average after: {os.getloadavg()}")
        return 0
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        for path in (big, small):
            path.unlink(missing_ok=True)
        work.rmdir()


if __name__ == "__main__":
    sys.exit(main())
