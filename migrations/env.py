"""Alembic environment: online migrations only, serialised by an advisory lock."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from flowscope.db import MIGRATION_LOCK_ID, Base
from flowscope.models import load_all_models

load_all_models()
target_metadata = Base.metadata

url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("FLOWSCOPE_DATABASE_URL")
if not url:
    raise SystemExit("no database URL: set FLOWSCOPE_DATABASE_URL or use `flowscope db upgrade`")

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    # Several processes may start at once against one database: only one migrates at a time,
    # the others then find the schema current.
    connection.execute(text("select pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
    connection.commit()
    try:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("select pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
        connection.commit()
engine.dispose()
