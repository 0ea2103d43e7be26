"""A dispatcher on its own, for the crash test: `python -m tests.automations.dispatcher_process
<database url>` dispatches until killed."""

from __future__ import annotations

import sys
import time

from flowscope.automations.dispatcher import dispatch
from flowscope.db import Database, make_engine, make_sessionmaker
from flowscope.settings import Settings


def main(url: str) -> None:
    engine = make_engine(url, pool_size=2)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    settings = Settings(
        env="test", database_url=url, automation_backoff_seconds=0.05, log_format="text"
    )
    while True:
        dispatch(db, settings, budget_seconds=5)
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1])
