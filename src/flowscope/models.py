"""Imports every domain's models so that `Base.metadata` knows all tables."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy.dialects.postgresql.base import ischema_names

import flowscope


def load_all_models() -> None:
    """Import `flowscope.jobs` (the scheduler's job store table) and every `models` module.

    Found by walking the package rather than listed: a list went stale when `flows/` was
    split (Alembic then saw no `flows` table), and a new domain's tables count at once.
    """
    importlib.import_module("flowscope.jobs")
    for module in pkgutil.walk_packages(flowscope.__path__, prefix="flowscope."):
        if module.name.rpartition(".")[2] == "models" and module.name != __name__:
            importlib.import_module(module.name)
    from flowscope.ingest.models import Xid8

    # Reflection (Alembic comparing the database with these models) reads events.txid as our
    # type: otherwise xid8 is unknown to it, with a warning, and that column is never compared.
    ischema_names.setdefault("xid8", Xid8)
