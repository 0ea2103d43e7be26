"""Ingest benchmark: HTTP batches and single events against a raw COPY baseline, same run.

Run by hand (`make bench` or `.venv/bin/python bench/ingest.py --help`); CI does not run it.
It creates its own database on the local PostgreSQL (or on the server named by
FLOWSCOPE_BENCH_DATABASE_URL), starts `flowscope serve` on a free port, creates a token, and:

  copy    COPY binary of the same kind of events straight into `events` (the raw baseline)
  batch   500-event JSON batches from concurrent keep-alive clients, acknowledged events/s
  single  one event per request at a fixed concurrency: requests/s, p50 and p99 latency

Each phase starts from an emptied `events` table. The load generator is a few processes of
threads on raw keep-alive sockets sending pre-serialized bodies (only the event ids change), and
every phase prints how many cores the clients, the server, PostgreSQL and anything else used,
so a bench that was starved by its own clients (or by other work on the machine) shows it.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
INGEST_PATH = "/api/v2/bizevents/ingest"
ID_KEY = b"@@@@@@@@@@@@@@@@@@"  # fixed width: the body length never changes
TYPES = ["order.placed", "payment.done", "order.packed", "order.shipped", "order.delivered"]
TARGET_RATIO = 0.5
TARGET_RPS = 3000
TARGET_P99_MS = 25.0

# ---------------------------------------------------------------------------------------------
# Events


def event(i: int, key: str, ts: datetime) -> dict[str, Any]:
    """One business event of the kind the generator sends (about 300 bytes of JSON)."""
    return {
        "event.provider": "bench.shop.v001",
        "event.type": TYPES[i % len(TYPES)],
        "event.id": f"{key}-{i:04d}",
        "timestamp": (ts + timedelta(milliseconds=i)).isoformat(),
        "order.id": f"ORD-{i:06d}",
        "amount": round(10 + i * 0.37, 2),
        "currency": "EUR",
        "loyalty.tier": ("gold", "silver", "bronze")[i % 3],
        "items": i % 7 + 1,
        "location": {"country": "DE", "city": "Berlin", "store": f"S{i % 40}"},
    }


def batch_template(size: int, ts: datetime) -> bytes:
    return orjson.dumps([event(i, ID_KEY.decode(), ts) for i in range(size)])


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client: cheap enough not to compete with the server for CPU.


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        head = buf[:end]
        status = int(head[9:12])
        at = head.lower().find(b"content-length:")
        if at < 0:
            raise ConnectionError("response without content-length")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop >= 0 else None])
        body_start = end + 4
        while len(buf) < body_start + length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        self.buf = buf[body_start + length :]
        return status, buf[body_start : body_start + length]

    def close(self) -> None:
        self.sock.close()


def http_request(port: int, token: str, body: bytes) -> bytes:
    return (
        f"POST {INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Api-Token {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Load:
    """What one client process is told to do."""

    port: int
    token: str
    template: bytes  # the request body with ID_KEY where the id prefix goes
    events_per_request: int
    threads: int
    start: float  # wall clock: counting starts here (after the warm-up)
    end: float
    warmup_start: float
    run: str
    proc: int


@dataclass
class Tally:
    acked_events: int = 0
    requests: int = 0
    late_events: int = 0  # acknowledged after the end of the window (still stored)
    all_events: int = 0  # acknowledged at any time, warm-up included
    all_requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


def _client_thread(load: Load, thread: int, tally: Tally, lock: threading.Lock) -> None:
    parts = http_request(load.port, load.token, load.template).split(ID_KEY)
    conn = Connection(load.port)
    local = Tally()
    n = 0
    while time.time() < load.warmup_start:
        time.sleep(0.005)
    try:
        while True:
            t0 = time.time()
            if t0 >= load.end:
                break
            key = f"{load.run}{load.proc:02d}{thread:03d}{n:09d}".encode()
            assert len(key) == len(ID_KEY)
            n += 1
            try:
                status, body = conn.exchange(key.join(parts))
            except OSError as exc:
                name = type(exc).__name__
                local.errors[name] = local.errors.get(name, 0) + 1
                conn.close()
                time.sleep(0.05)
                conn = Connection(load.port)
                continue
            t1 = time.time()
            if status != 202:
                reason = f"HTTP {status}: {body[:120].decode(errors='replace')}"
                local.errors[reason] = local.errors.get(reason, 0) + 1
                continue
            accepted = orjson.loads(body)["accepted"]
            local.all_events += accepted
            local.all_requests += 1
            if t0 < load.start:
                continue  # warm-up
            if t1 > load.end:
                local.late_events += accepted
                continue
            local.acked_events += accepted
            local.requests += 1
            local.latencies.append(t1 - t0)
    finally:
        conn.close()
    with lock:
        tally.acked_events += local.acked_events
        tally.late_events += local.late_events
        tally.all_events += local.all_events
        tally.all_requests += local.all_requests
        tally.requests += local.requests
        tally.latencies.extend(local.latencies)
        for k, v in local.errors.items():
            tally.errors[k] = tally.errors.get(k, 0) + v


def _client_process(load: Load, out: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tally = Tally()
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_client_thread, args=(load, t, tally, lock))
        for t in range(load.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = os.times()
    tally.cpu_seconds = times.user + times.system
    out.put(tally)


def run_clients(
    port: int,
    token: str,
    template: bytes,
    events_per_request: int,
    clients: int,
    processes: int,
    warmup: float,
    duration: float,
) -> Tally:
    processes = max(1, min(processes, clients))
    ctx = mp.get_context("fork")
    out: Any = ctx.Queue()
    warmup_start = time.time() + 0.5
    start = warmup_start + warmup
    run = secrets.token_hex(2)
    procs = []
    for p in range(processes):
        threads = clients // processes + (1 if p < clients % processes else 0)
        load = Load(
            port, token, template, events_per_request, threads,
            start, start + duration, warmup_start, run, p,
        )  # fmt: skip
        procs.append(ctx.Process(target=_client_process, args=(load, out), daemon=True))
    for proc in procs:
        proc.start()
    total = Tally()
    for _ in procs:
        part: Tally = out.get()
        total.acked_events += part.acked_events
        total.late_events += part.late_events
        total.all_events += part.all_events
        total.all_requests += part.all_requests
        total.requests += part.requests
        total.latencies.extend(part.latencies)
        total.cpu_seconds += part.cpu_seconds
        for k, v in part.errors.items():
            total.errors[k] = total.errors.get(k, 0) + v
    for proc in procs:
        proc.join()
    return total


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc: who used the two cores during a phase.

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, command, cpu ticks used) for every process we can read."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return table


def _machine_busy_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


def _descendants(table: dict[int, tuple[int, str, int]], root: int) -> set[int]:
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


@dataclass
class CpuUse:
    seconds: float
    server: float = 0.0
    postgres: float = 0.0
    machine: float = 0.0
    clients: float = 0.0
    top_other: list[tuple[str, float]] = field(default_factory=list)

    def describe(self, client_cpu_seconds: float | None = None) -> str:
        if client_cpu_seconds is not None:
            self.clients = client_cpu_seconds / self.seconds
        other = max(0.0, self.machine - self.server - self.postgres - self.clients)
        busiest = ", ".join(f"{name} {cores:.2f}" for name, cores in self.top_other)
        return (
            f"cores used: server {self.server:.2f}, postgres {self.postgres:.2f}, "
            f"load generator {self.clients:.2f}, other {other:.2f} "
            f"(machine {self.machine:.2f} of {os.cpu_count()}; busiest others: {busiest or '-'})"
        )


def postgres_pids(conninfo: str) -> set[int]:
    """Backends of the bench database and the server's own background processes.

    Other people's backends on a shared server are left out (they count as 'other').
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where (datname = current_database() "
            "or backend_type <> 'client backend') and pid <> pg_backend_pid()"
        ).fetchall()
    return {int(r[0]) for r in rows}


@contextmanager
def cpu_meter(server_pid: int | None, conninfo: str) -> Iterator[CpuUse]:
    before = _proc_table()
    busy0, _ = _machine_busy_ticks()
    t0 = time.perf_counter()
    use = CpuUse(0.0)
    yield use
    use.seconds = time.perf_counter() - t0
    postgres = postgres_pids(conninfo)
    after = _proc_table()
    busy1, _ = _machine_busy_ticks()

    def used(pids: set[int]) -> float:
        ticks = sum(after[p][2] - (before[p][2] if p in before else 0) for p in pids if p in after)
        return ticks / CLK_TCK / use.seconds

    server = _descendants(after, server_pid) if server_pid is not None else set()
    me = _descendants(after, os.getpid())
    use.server = used(server)
    use.postgres = used(postgres)
    others = [(f"{after[p][1]}[{p}]", used({p})) for p in after if p not in server | postgres | me]
    use.top_other = sorted(others, key=lambda item: -item[1])[:3]
    use.machine = (busy1 - busy0) / CLK_TCK / use.seconds


# ---------------------------------------------------------------------------------------------
# The database and the server


def admin_conninfo() -> str:
    url = os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL", LOCAL_SERVER)
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(conninfo: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})


def to_url(conninfo: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = info.get("user", "postgres")
    password = f":{info['password']}" if info.get("password") else ""
    return (
        f"postgresql+psycopg://{user}{password}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{info['dbname']}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flowscope_bin() -> str:
    candidate = Path(sys.executable).with_name("flowscope")
    return str(candidate) if candidate.exists() else "flowscope"


class Server:
    def __init__(self, env: dict[str, str], port: int, workers: int, extra: list[str]) -> None:
        self.port = port
        log_path = Path(tempfile.gettempdir()) / f"flowscope-bench-{port}.log"
        self.log = log_path.open("wb")
        cmd = [flowscope_bin(), "serve", "--port", str(port), "--workers", str(workers), *extra]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"flowscope serve exited; see {self.log.name}")
            try:
                conn = Connection(port)
                status, _ = conn.exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                conn.close()
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"flowscope serve did not answer within 60 s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def truncate_events(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("truncate events restart identity")
        conn.execute("checkpoint")


def count_events(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("select count(*) from events").fetchone()
        return int(row[0]) if row else 0


# ---------------------------------------------------------------------------------------------
# Phases


def copy_baseline(
    conn: psycopg.Connection[Any], duration: float, chunk: int, ts: datetime
) -> tuple[int, float]:
    """COPY binary straight into `events`, one transaction per `chunk` rows, for `duration` s."""
    templates = [event(i, "x", ts) for i in range(chunk)]
    rows = []
    for doc in templates:
        doc = dict(doc)
        provider, etype = doc.pop("event.provider"), doc.pop("event.type")
        doc.pop("event.id")
        stamp = datetime.fromisoformat(doc.pop("timestamp"))
        rows.append((provider, etype, stamp, doc))
    stored = 0
    set_json_dumps(orjson.dumps, conn)
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < duration:
        with conn.cursor() as cur:
            sql = (
                'copy events (provider, event_id, type, "timestamp", attributes) '
                "from stdin (format binary)"
            )
            with cur.copy(sql) as copy:
                copy.set_types(["text", "text", "text", "timestamptz", "jsonb"])
                for i, (provider, etype, stamp, attrs) in enumerate(rows):
                    copy.write_row((provider, f"copy{n:08d}-{i:05d}", etype, stamp, attrs))
        conn.commit()
        stored += len(rows)
        n += 1
    elapsed = time.perf_counter() - start
    return stored, elapsed


@contextmanager
def profiler(folder: str | None, phase: str, server: Server, args: Any) -> Iterator[None]:
    """py-spy on the server (and its workers) for the counted window of a phase."""
    if folder is None:
        yield
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    cmd = [
        str(py_spy) if py_spy.exists() else "py-spy",
        "record", "--subprocesses", "--nonblocking", "--gil",
        "--format", "raw", "-o", f"{folder}/{phase}.txt", "-p", str(server.proc.pid),
        "-d", str(int(args.duration + args.warmup + 1)),
    ]  # fmt: skip
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.wait()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report_http(name: str, tally: Tally, duration: float, cpu: CpuUse) -> None:
    lat = tally.latencies
    print(
        f"  {name}: {tally.acked_events / duration:,.0f} events/s acknowledged, "
        f"{tally.requests / duration:,.0f} requests/s, "
        f"latency p50 {percentile(lat, 0.5) * 1e3:.1f} ms "
        f"p99 {percentile(lat, 0.99) * 1e3:.1f} ms max {max(lat, default=0) * 1e3:.1f} ms"
    )
    print(f"    {cpu.describe(tally.cpu_seconds)}")
    if tally.all_requests:
        # CPU per unit of work holds up far better than throughput on a shared, busy machine.
        # The meter spans warm-up and wind-down too, so divide by all work acknowledged.
        server_us = cpu.server * cpu.seconds * 1e6
        postgres_us = cpu.postgres * cpu.seconds * 1e6
        print(
            f"    CPU per event: server {server_us / tally.all_events:.0f} us, postgres "
            f"{postgres_us / tally.all_events:.0f} us; per request: server "
            f"{server_us / tally.all_requests:.0f} us, postgres "
            f"{postgres_us / tally.all_requests:.0f} us"
        )
    if tally.errors:
        print(f"    ERRORS: {tally.errors}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first (2)")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request (500)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent batch clients (8)")
    parser.add_argument(
        "--single-clients", type=int, default=16, help="concurrency of single-event requests (16)"
    )
    parser.add_argument("--client-processes", type=int, default=2, help="load processes (2)")
    parser.add_argument("--workers", type=int, default=1, help="flowscope serve --workers (1)")
    parser.add_argument("--copy-chunk", type=int, default=10_000, help="rows per COPY (10000)")
    parser.add_argument(
        "--phases", default="copy,batch,single", help="which phases, comma separated"
    )
    parser.add_argument("--serve-arg", action="append", default=[], help="extra serve argument")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record the server with py-spy (pip install py-spy) into DIR/<phase>.txt",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    args = parser.parse_args()
    phases = set(args.phases.split(","))

    admin = admin_conninfo()
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    conninfo = with_database(admin, name)
    env = {
        **os.environ,
        "FLOWSCOPE_DATABASE_URL": to_url(conninfo),
        "FLOWSCOPE_BOOTSTRAP_ADMIN": "false",
    }
    server: Server | None = None
    try:
        port = free_port()
        server = Server(env, port, args.workers, args.serve_arg)
        token = subprocess.run(
            [flowscope_bin(), "tokens", "create", "--name", "bench", "--scope", "events:write"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        ts = datetime.now(UTC) - timedelta(minutes=5)
        template = batch_template(args.batch, ts)
        single = orjson.dumps(event(0, ID_KEY.decode(), ts))
        load1 = os.getloadavg()[0]
        print(
            f"flowscope ingest bench: {os.cpu_count()} cores, load average {load1:.2f} before start"
        )
        print(
            f"  server: flowscope serve --workers {args.workers} {' '.join(args.serve_arg)}; "
            f"database {name}"
        )
        print(
            f"  {args.duration:g} s per phase after {args.warmup:g} s warm-up; batch "
            f"{args.batch} events ({len(template):,} bytes) from {args.clients} clients; single "
            f"events ({len(single)} bytes) from {args.single_clients} clients; "
            f"{args.client_processes} load processes"
        )

        copy_rate = batch_rate = copy_cpu = batch_cpu = None
        if "copy" in phases:
            truncate_events(conninfo)
            # The connection outlives the meter, so its backend's CPU is still readable.
            with psycopg.connect(conninfo) as conn, cpu_meter(None, conninfo) as cpu:
                own0 = sum(os.times()[:2])
                stored, elapsed = copy_baseline(conn, args.duration, args.copy_chunk, ts)
                own = sum(os.times()[:2]) - own0
            copy_rate = stored / elapsed
            copy_cpu = (own + cpu.postgres * cpu.seconds) / stored
            print(
                f"  raw COPY binary into events (1 connection, {args.copy_chunk} rows per "
                f"transaction): {copy_rate:,.0f} events/s"
            )
            print(f"    {cpu.describe(own)} (the load generator is the COPY client)")
            print(
                f"    CPU per event: client {own / stored * 1e6:.0f} us, postgres "
                f"{cpu.postgres * cpu.seconds / stored * 1e6:.0f} us"
            )

        if "batch" in phases:
            truncate_events(conninfo)
            time.sleep(1)
            with (
                cpu_meter(server.proc.pid, conninfo) as cpu,
                profiler(args.profile, "batch", server, args),
            ):
                tally = run_clients(
                    port, token, template, args.batch, args.clients,
                    args.client_processes, args.warmup, args.duration,
                )  # fmt: skip
            # cpu_meter spans the warm-up too; the rate uses the counted window only.
            batch_rate = tally.acked_events / args.duration
            batch_cpu = (cpu.server + cpu.postgres) * cpu.seconds / max(tally.all_events, 1)
            report_http(f"HTTP batches of {args.batch}", tally, args.duration, cpu)
            stored_rows = count_events(conninfo)
            print(
                f"    stored rows {stored_rows:,}; acknowledged in window + warm-up/late "
                f"{tally.acked_events + tally.late_events:,}+"
            )

        if "single" in phases:
            truncate_events(conninfo)
            time.sleep(1)
            with (
                cpu_meter(server.proc.pid, conninfo) as cpu,
                profiler(args.profile, "single", server, args),
            ):
                tally = run_clients(
                    port, token, single, 1, args.single_clients,
                    args.client_processes, args.warmup, args.duration,
                )  # fmt: skip
            report_http(
                f"single events, concurrency {args.single_clients}", tally, args.duration, cpu
            )
            rps = tally.requests / args.duration
            p99 = percentile(tally.latencies, 0.99) * 1e3
            print(
                f"  single: {rps:,.0f} req/s (target >= {TARGET_RPS:,}: "
                f"{'met' if rps >= TARGET_RPS else 'MISSED'}), p99 {p99:.1f} ms "
                f"(target < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'MISSED'})"
            )

        if copy_rate and batch_rate:
            ratio = batch_rate / copy_rate
            print(
                f"  HTTP batches {batch_rate:,.0f} events/s vs raw COPY {copy_rate:,.0f} events/s: "
                f"ratio {ratio:.2f} (target >= {TARGET_RATIO}: "
                f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})"
            )
        if copy_cpu and batch_cpu:
            print(
                f"  CPU per event (client/server + postgres): raw COPY {copy_cpu * 1e6:.0f} us, "
                f"HTTP batches {batch_cpu * 1e6:.0f} us: HTTP costs {batch_cpu / copy_cpu:.1f}x"
            )
        return 0
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            if server is not None:
                Path(server.log.name).unlink(missing_ok=True)
        else:
            print(f"  kept database {name} and log {server.log.name if server else ''}")


if __name__ == "__main__":
    sys.exit(main())
