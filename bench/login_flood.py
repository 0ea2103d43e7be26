"""Login flood: what 40 concurrent wrong passwords do to a real `flowscope serve`.

Run by hand: `.venv/bin/python bench/login_flood.py` (`--help` for options). It creates its own
database on the local PostgreSQL (or on the server named by FLOWSCOPE_BENCH_DATABASE_URL),
starts `flowscope serve` on a free port, creates one user, and runs two phases:

  flood       N clients (default 40) each fetch the login form, then all post a wrong password
              at once. Measured: the server's peak RSS (process and children, sampled every
              20 ms), /healthz latency while the flood runs, and the status codes.
  sequential  one client posts wrong passwords back to back for a fixed time (default 20 s):
              how many guesses get through, and what the server answers once it throttles.

Throttle state from the flood is cleared before the sequential phase (when the table exists),
so each phase starts fresh. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import psycopg

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
FLOWSCOPE = str(Path(sys.executable).parent / "flowscope")
USER = "victim"
PASSWORD = "the-right-password-1"  # noqa: S105 - a throwaway bench user
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def bench_database() -> Iterator[str]:
    admin = os.environ.get("FLOWSCOPE_BENCH_DATABASE_URL", LOCAL_SERVER)
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name  # a URL naming the new database
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def env_for(url: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSCOPE_")}
    return {
        **inherited,
        "FLOWSCOPE_DATABASE_URL": url,
        "FLOWSCOPE_SCHEDULER_ENABLED": "false",
        "FLOWSCOPE_BOOTSTRAP_ADMIN": "false",
        "FLOWSCOPE_LOG_LEVEL": "WARNING",
        "FLOWSCOPE_NEW_PASSWORD": PASSWORD,
    }


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler(threading.Thread):
    """Peak RSS of the server, and /healthz latencies, until stopped."""

    def __init__(self, proc: psutil.Process, base: str) -> None:
        super().__init__(daemon=True)
        self.proc, self.base = proc, base
        self.stop = threading.Event()
        self.peak = 0
        self.health: list[float] = []

    def run(self) -> None:
        prober = threading.Thread(target=self._probe, daemon=True)
        prober.start()
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            time.sleep(0.02)
        prober.join()

    def _probe(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while not self.stop.is_set():
                start = time.perf_counter()
                client.get("/healthz")
                self.health.append(time.perf_counter() - start)
                time.sleep(0.05)


def login_form(client: httpx.Client) -> str:
    match = CSRF.search(client.get("/login").text)
    if match is None:
        raise SystemExit("the login page has no CSRF token")
    return match.group(1)


def flood(base: str, proc: psutil.Process, clients: int, distinct: bool) -> None:
    sessions = [httpx.Client(base_url=base, timeout=120) for _ in range(clients)]
    tokens = [login_form(c) for c in sessions]
    idle = tree_rss(proc)
    with httpx.Client(base_url=base) as c:
        quiet = []
        for _ in range(10):
            start = time.perf_counter()
            c.get("/healthz")
            quiet.append(time.perf_counter() - start)
    barrier = threading.Barrier(clients + 1)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def attack(client: httpx.Client, token: str) -> None:
        barrier.wait()
        # distinct names: no account limit applies, only the per-address one (after 20)
        name = f"{USER}-{secrets.token_hex(3)}" if distinct else USER
        data = {"username": name, "password": "wrong-" + secrets.token_hex(4), "csrf_token": token}
        status = client.post("/login", data=data).status_code
        with lock:
            statuses[status] += 1

    threads = [
        threading.Thread(target=attack, args=pair) for pair in zip(sessions, tokens, strict=True)
    ]
    for t in threads:
        t.start()
    sampler = Sampler(proc, base)
    sampler.start()
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    for c in sessions:
        c.close()
    health = sampler.health or [0.0]
    who = "distinct unknown users" if distinct else "one user"
    print(f"flood: {clients} concurrent wrong logins ({who}) in {elapsed:.1f} s; {dict(statuses)}")
    print(
        f"  server RSS: idle {idle / 2**20:.0f} MiB, peak {sampler.peak / 2**20:.0f} MiB "
        f"(+{(sampler.peak - idle) / 2**20:.0f} MiB)"
    )
    print(
        f"  /healthz: quiet median {statistics.median(quiet) * 1000:.1f} ms; during the flood "
        f"{len(health)} probes, median {statistics.median(health) * 1000:.1f} ms, "
        f"max {max(health) * 1000:.0f} ms"
    )


def sequential(base: str, seconds: float) -> None:
    statuses: Counter[int] = Counter()
    retry_after: list[str] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        token = login_form(client)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            data = {"username": USER, "password": "wrong-" + secrets.token_hex(4)}
            response = client.post("/login", data={**data, "csrf_token": token})
            statuses[response.status_code] += 1
            if response.status_code == 429:
                retry_after.append(response.headers.get("retry-after", "?"))
    tried = statuses[401]
    print(
        f"sequential: {sum(statuses.values())} posts in {seconds:.0f} s, {tried} passwords "
        f"actually tried (401); {dict(statuses)}"
    )
    if retry_after:
        print(f"  Retry-After seen: first {retry_after[0]}, last {retry_after[-1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0, help="sequential phase length")
    parser.add_argument(
        "--distinct-users", action="store_true", help="each flood client guesses another name"
    )
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with bench_database() as url:
        env = env_for(url)
        subprocess.run([FLOWSCOPE, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [FLOWSCOPE, "users", "create", USER, "--role", "admin"],
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - our own entry point
            [FLOWSCOPE, "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            proc = psutil.Process(server.pid)
            flood(base, proc, args.clients, args.distinct_users)
            with psycopg.connect(env["FLOWSCOPE_DATABASE_URL"], autocommit=True) as conn:
                if conn.execute("select to_regclass('login_throttle')").fetchone() != (None,):
                    conn.execute("delete from login_throttle")
            sequential(base, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
