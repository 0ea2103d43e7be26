"""Resilience bench: what stalled bodies cost, and how long readers can make ingest wait.

Run by hand (`.venv/bin/python bench/resilience.py --help`); CI does not run it. Like
bench/ingest.py it creates its own database, starts `flowscope serve` on a free port and drops
the database at the end. Two phases:

  bodies   N connections each declare a 4.9 MB body with a bogus token, send all but the last
           byte and stall; the server's peak RSS (its whole process tree) and the RSS growth
           over the idle server are reported.
  readers  the bench locks `flow_instances` (ACCESS EXCLUSIVE) and starts N concurrent
           `fetch flows` queries, which wait on the lock with their pooled connection until
           the query timeout (10 s) stops them: slow readers that cost no CPU. Meanwhile it
           sends one single-event ingest request every 0.2 s and reports their latency.

Run it against another checkout (e.g. main) by putting that checkout's src first:
`PYTHONPATH=/path/to/main/src .venv/bin/python bench/resilience.py` (the server inherits it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from ingest import (  # noqa: E402 - the sibling bench's server and database helpers
    INGEST_PATH,
    Connection,
    Server,
    admin_conninfo,
    flowscope_bin,
    free_port,
    to_url,
    with_database,
)

BODY_BYTES = 4_900_000


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its children (uvicorn workers, if any)."""
    proc = psutil.Process(pid)
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def stalled_body(port: int, hold: float, outcome: dict[str, int]) -> None:
    head = (
        f"POST {INGEST_PATH} HTTP/1.1\r\nHost: bench\r\nAuthorization: Api-Token bogus\r\n"
        f"Content-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n"
    ).encode()
    chunk = b" " * 65536
    key = "no answer while stalled"
    until = time.monotonic() + hold
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head)
            left = BODY_BYTES - 1
            while left > 0:
                sock.sendall(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
            # stalled: the last byte never comes; what does the server say meanwhile?
            sock.settimeout(max(0.1, until - time.monotonic()))
            answer = sock.recv(65536)
            key = f"answered {answer[9:12].decode()}" if answer else "closed without answer"
            while sock.recv(65536):
                pass
            key += ", then closed by the server"
            time.sleep(max(0.0, until - time.monotonic()))
    except TimeoutError:
        pass
    except OSError as exc:
        key = f"cut by the server ({type(exc).__name__})"
    outcome[key] = outcome.get(key, 0) + 1


def bodies_phase(server: Server, connections: int, hold: float) -> None:
    time.sleep(1)
    idle = tree_rss(server.proc.pid)
    outcome: dict[str, int] = {}
    threads = [
        threading.Thread(target=stalled_body, args=(server.port, hold, outcome), daemon=True)
        for _ in range(connections)
    ]
    for t in threads:
        t.start()
    peak = idle
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        peak = max(peak, tree_rss(server.proc.pid))
        time.sleep(0.1)
    for t in threads:
        t.join(30)
    mib = 1024 * 1024
    print(
        f"  bodies: {connections} x {BODY_BYTES:,} bytes with a bogus token, held {hold:g} s: "
        f"server RSS idle {idle / mib:.0f} MiB, peak {peak / mib:.0f} MiB "
        f"(+{(peak - idle) / mib:.0f} MiB); clients: {outcome}"
    )


def readers_phase(
    server: Server, conninfo: str, write_token: str, read_token: str, readers: int
) -> None:
    def ingest_once(conn: Connection, i: int) -> float:
        body = orjson.dumps({"event.provider": "bench", "event.type": "t", "event.id": f"r{i}"})
        request = (
            f"POST {INGEST_PATH} HTTP/1.1\r\nHost: bench\r\nAuthorization: Api-Token "
            f"{write_token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        t0 = time.perf_counter()
        status, answer = conn.exchange(request)
        elapsed = time.perf_counter() - t0
        if status != 202:
            print(f"    ingest {i}: HTTP {status} {answer[:100]!r}")
        return elapsed

    conn = Connection(server.port)
    quiet = [ingest_once(conn, i) for i in range(10)]  # warms the token cache, too

    statuses: dict[int, int] = {}

    def query() -> None:
        body = orjson.dumps({"query": "fetch flows"})
        request = (
            f"POST /api/v1/query HTTP/1.1\r\nHost: bench\r\nAuthorization: Api-Token "
            f"{read_token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        c = Connection(server.port)
        status, _ = c.exchange(request)
        statuses[status] = statuses.get(status, 0) + 1
        c.close()

    with psycopg.connect(conninfo) as locker:
        locker.execute("lock table flow_instances in access exclusive mode")
        threads = [threading.Thread(target=query, daemon=True) for _ in range(readers)]
        for t in threads:
            t.start()
        time.sleep(1)  # the queries have taken their connections and wait on the lock
        busy = []
        for i in range(40):
            busy.append(ingest_once(conn, 100 + i))
            time.sleep(0.2)
        locker.rollback()
    for t in threads:
        t.join(60)
    conn.close()
    ms = 1000

    def summary(values: list[float]) -> str:
        return f"median {statistics.median(values) * ms:.1f} ms, max {max(values) * ms:.1f} ms"

    print(
        f"  readers: {readers} queries held 10 s by a lock (answers {statuses}); single-event "
        f"ingest before: {summary(quiet)}; during: {summary(busy)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=100, help="stalled bodies (100)")
    parser.add_argument("--hold", type=float, default=15.0, help="seconds to stall them (15)")
    parser.add_argument("--readers", type=int, default=24, help="slow queries (24)")
    parser.add_argument("--phases", default="bodies,readers", help="comma separated")
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
        "FLOWSCOPE_SCHEDULER_ENABLED": "false",
    }
    server: Server | None = None
    try:
        server = Server(env, free_port(), 1, [])

        def token(scope: str) -> str:
            cmd = [flowscope_bin(), "tokens", "create", "--name", scope, "--scope", scope]
            return subprocess.run(
                cmd, env=env, check=True, capture_output=True, text=True
            ).stdout.strip()

        print(
            f"flowscope resilience bench: {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.2f}; server {flowscope_bin()} serve, database {name}"
        )
        if "bodies" in phases:
            bodies_phase(server, args.connections, args.hold)
        if "readers" in phases:
            readers_phase(
                server, conninfo, token("events:write"), token("events:read"), args.readers
            )
        print(f"  load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
