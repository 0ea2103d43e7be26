"""Does a large flow YAML stall other requests? /healthz latency while YAML is being parsed.

Run by hand: `.venv/bin/python bench/yaml_upload.py [--kib 960] [--api-kib 3000]`. CI does
not run it. It creates its own database on the local PostgreSQL (or on the server named by
FLOWSCOPE_BENCH_DATABASE_URL), starts `flowscope serve` (one uvicorn worker, no scheduler),
creates an editor and an admin token, then for each upload polls /healthz every 20 ms from
another thread and prints the baseline (idle) and the worst /healthz latency during:

  upload   the editor's YAML upload (multipart form, signed in, CSRF token), ~1 MB of steps
  api      PUT /api/v1/flows/{slug} with an application/yaml body, ~3 MB

The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import Server, admin_conninfo, flowscope_bin, free_port, to_url, with_database  # noqa: E402

PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway user of a throwaway database


def big_yaml(kib: int) -> bytes:
    """A flow definition with as many steps as fit in `kib` KiB: valid YAML, many nodes."""
    head = "slug: big\nname: Big\ncorrelation: order.id\nsteps:\n"
    step = "  - key: s{i}\n    name: Step {i}\n    events:\n      - {{provider: p, type: t{i}}}\n"
    parts, size, i = [head], len(head), 0
    while size < kib * 1024:
        text = step.format(i=i)
        parts.append(text)
        size += len(text)
        i += 1
    return "".join(parts).encode()


class Poller(threading.Thread):
    """GET /healthz every 20 ms; records each latency in seconds."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.latencies: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=120) as client:
            while not self.stopping.is_set():
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.02)


def during(base: str, action: object) -> tuple[float, float, object]:
    """(worst /healthz latency in ms, the action's duration in s, its result)."""
    poller = Poller(base)
    poller.start()
    time.sleep(0.3)
    started = time.perf_counter()
    result = action()  # type: ignore[operator]
    took = time.perf_counter() - started
    time.sleep(0.3)
    poller.stopping.set()
    poller.join()
    return max(poller.latencies) * 1000, took, result


def signed_in(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=300, follow_redirects=False)
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    form = {
        "username": "editor",
        "password": PASSWORD,
        "csrf_token": login.group(1) if login else "",
    }
    response = client.post("/login", data=form)
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    page = client.get("/flows/manage").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise SystemExit("no CSRF token on /flows/manage")
    return client, match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kib", type=int, default=960, help="size of the editor upload")
    parser.add_argument("--api-kib", type=int, default=3000, help="size of the API body")
    args = parser.parse_args()

    admin = admin_conninfo()
    name = f"flowscope_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    env = {
        **os.environ,
        "FLOWSCOPE_DATABASE_URL": to_url(with_database(admin, name)),
        "FLOWSCOPE_SCHEDULER_ENABLED": "false",
        "FLOWSCOPE_BOOTSTRAP_ADMIN": "false",
        "FLOWSCOPE_LOG_LEVEL": "WARNING",
        "FLOWSCOPE_NEW_PASSWORD": PASSWORD,
    }
    server = None
    try:
        bin_ = flowscope_bin()
        subprocess.run([bin_, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [bin_, "users", "create", "editor", "--role", "admin"],
            env=env,
            check=True,
            capture_output=True,
        )
        out = subprocess.run(
            [bin_, "tokens", "create", "--name", "bench", "--scope", "admin"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        token = out.split()[-1]
        port = free_port()
        server = Server(env, port, 1, ["--no-access-log"])
        base = f"http://127.0.0.1:{port}"

        idle, _, _ = during(base, lambda: time.sleep(1))
        print(f"idle              /healthz max {idle:8.1f} ms")

        client, csrf = signed_in(base)
        body = big_yaml(args.kib)

        def upload() -> int:
            files = {"file": ("big.yaml", body, "application/yaml")}
            return client.post(
                "/flows/manage/upload", data={"csrf_token": csrf}, files=files
            ).status_code

        worst, took, status = during(base, upload)
        print(
            f"upload {len(body) / 1e6:5.2f} MB  /healthz max {worst:8.1f} ms  "
            f"(answer {status} in {took:.1f} s)"
        )

        api_body = big_yaml(args.api_kib)

        def put() -> int:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"}
            with httpx.Client(base_url=base, timeout=300) as api:
                return api.put("/api/v1/flows/big", content=api_body, headers=headers).status_code

        worst, took, status = during(base, put)
        print(
            f"api    {len(api_body) / 1e6:5.2f} MB  /healthz max {worst:8.1f} ms  "
            f"(answer {status} in {took:.1f} s)"
        )
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
