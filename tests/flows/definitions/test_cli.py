"""The commands as a user runs them: a real process, its output and its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flowscope.db import Database
from flowscope.flows.definitions.yaml_io import to_yaml
from tests.flows.factories import definition

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(clean_db: Database, database_url: str) -> Runner:
    env = {**os.environ, "FLOWSCOPE_DATABASE_URL": database_url, "FLOWSCOPE_ENV": "test"}

    def flowscope(*args: str, env_days: str | None = None) -> subprocess.CompletedProcess[str]:
        days = {} if env_days is None else {"FLOWSCOPE_RETENTION_DAYS": env_days}
        return subprocess.run(
            [sys.executable, "-m", "flowscope", *args],
            capture_output=True,
            text=True,
            env={**env, **days},
            timeout=120,
            check=False,
        )

    return flowscope


def test_flows_import_export_list(run: Runner, tmp_path: Path) -> None:
    text = to_yaml(definition())
    path = tmp_path / "orders.yaml"
    path.write_text(text)
    first = run("flows", "import", str(path), "--by", "ann")
    assert (first.returncode, first.stdout) == (0, "flow online-orders: created (version 1)\n")
    again = run("flows", "import", str(path))
    assert again.stdout == "flow online-orders: unchanged (version 1)\n"
    exported = run("flows", "export", "online-orders")
    assert (exported.returncode, exported.stdout) == (0, text)
    listed = run("flows", "list")
    assert listed.stdout.startswith("online-orders\tv1\tOnline orders\tann\t")


def test_flows_errors_are_one_line_and_exit_non_zero(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(to_yaml(definition()).replace("stall: 1h", "stall: 2x"))
    bad = run("flows", "import", str(path))
    assert bad.returncode == 1
    assert (
        bad.stderr
        == f"error: {path}: timeouts.stall: '2x' is not a duration such as 30m, 2h or 1d\n"
    )
    missing = run("flows", "export", "nope")
    assert (missing.returncode, missing.stderr) == (1, "error: flow 'nope' does not exist\n")


def test_import_log_twice_stores_nothing_the_second_time(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "case:concept:name,concept:name,time:timestamp\n"
        "a,Open,2012-01-01T00:00:00Z\na,Close,2012-01-02T00:00:00Z\nb,Open,2012-01-03T00:00:00Z\n"
    )
    first = run("import-log", str(path), "--provider", "old.system")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "3 events read: 3 stored, 0 already present, 0 rejected\n"
    second = run("import-log", str(path), "--provider", "old.system", "--jobs", "1")
    assert second.stdout == "3 events read: 0 stored, 3 already present, 0 rejected\n"
    suggested = run("flows", "suggest", "old.system", "--correlation", "case.id")
    assert suggested.returncode == 0, suggested.stderr
    assert suggested.stdout.startswith("slug: old-system\nname: old.system\n")


def test_imported_history_is_kept_by_retention(
    run: Runner, tmp_path: Path, clean_db: Database
) -> None:
    """With the default retention (35 days) an imported log would be deleted by the next
    retention run and then refused for ever; import-log makes its provider keep its events."""
    from sqlalchemy import text

    from flowscope.retention.purge import run_retention

    path = tmp_path / "log.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\na,Open,2012-01-01T00:00:00Z\n")
    imported = run("import-log", str(path), "--provider", "old.system", env_days="35")
    assert imported.returncode == 0, imported.stderr
    assert "'old.system' now keeps its events forever" in imported.stderr
    run_retention(clean_db, default_days=35)
    with clean_db.sessions() as s:
        assert s.scalar(text("select count(*) from events")) == 1
        days = s.scalar(text("select days from retention_providers where provider = 'old.system'"))
        assert days == 0
        actions = s.scalars(text("select action from audit_log")).all()
    assert actions == ["retention.set"]
    again = run("import-log", str(path), "--provider", "old.system", env_days="35")
    assert "now keeps" not in again.stderr  # its own setting is left as it is


def test_import_log_reports_rejected_rows_and_exits_non_zero(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\na,Open,soon\n")
    result = run("import-log", str(path), "--provider", "p")
    assert result.returncode == 1
    assert "rejected: line 2: timestamp: 'soon' is not an RFC 3339 time" in result.stderr
    assert result.stderr.endswith("error: 1 events were rejected (see above)\n")
    (tmp_path / "x.txt").write_text("hello")
    unknown = run("import-log", str(tmp_path / "x.txt"), "--provider", "p")
    assert unknown.returncode == 1
    assert unknown.stderr == (
        "error: x.txt: unknown log format; use a .xes, .xes.gz or .csv file\n"
    )
