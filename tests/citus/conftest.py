"""The core suites again, on a Citus cluster (coordinator + 2 workers, `../shared/citus/`).

Every test module here is marked `citus` and runs only when selected with `-m citus` (CI's
extra step, `.ci/run`), so the default suite is unchanged. Selected without a running cluster
they skip, or fail when FLOWSCOPE_REQUIRE_CITUS=1 (CI). `database_url` is overridden: every
fixture built on it (sessions, the app, clients) then talks to the cluster's coordinator,
where `upgrade_database` has distributed the tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from flowscope.db import upgrade_database
from tests.fixtures.citus import cluster_answers, create_citus_database, drop_citus_database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "citus" in (config.getoption("-m") or "")
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="Citus tests run with -m citus (a cluster on :9700)")
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.citus)
            if not selected:
                item.add_marker(skip)


def require_cluster() -> None:
    if cluster_answers():
        return
    message = "no Citus cluster on 127.0.0.1:9700 (../shared/citus/cluster.sh start)"
    if os.environ.get("FLOWSCOPE_REQUIRE_CITUS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    require_cluster()
    url = create_citus_database()
    try:
        upgrade_database(url)
        yield url
    finally:
        drop_citus_database(url)
