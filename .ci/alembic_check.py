"""`alembic check`: the models match the migrations (a model change without its migration fails).

Runs the `alembic` command as a developer would (alembic.ini at the repo root, the URL in
FLOWSCOPE_DATABASE_URL, see migrations/env.py) on a scratch database built by `alembic upgrade
head` on the tests' server (127.0.0.1:5432, else FLOWSCOPE_TEST_DATABASE_URL or an embedded
one), then drops it. Usage, from the repo root: `.venv/bin/python .ci/alembic_check.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' database helpers

from tests.fixtures.database import (  # noqa: E402
    create_test_database,
    drop_test_database,
    server_url,
)


def main() -> int:
    servers = server_url()
    admin_url = next(servers)
    url = create_test_database(admin_url)
    try:
        env = {**os.environ, "FLOWSCOPE_DATABASE_URL": url}
        alembic = str(Path(sys.executable).with_name("alembic"))
        for args in (["upgrade", "head"], ["check"]):
            done = subprocess.run([alembic, *args], cwd=ROOT, env=env, check=False)  # noqa: S603
            if done.returncode:
                return done.returncode  # alembic printed what differs
        return 0
    finally:
        drop_test_database(admin_url, url)
        servers.close()


if __name__ == "__main__":
    sys.exit(main())
