"""The secret key: configured, or made once per installation and kept in the database.

Kept in the database rather than in a file so that every web process (and every machine) that
shares the database signs with the same key, and so that a container without a persistent
volume keeps it across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flowscope.auth.models import InstanceKey
from flowscope.settings import KNOWN_BUILT_IN_SECRETS, Settings

SECRET_KEY_NAME = "secret_key"  # noqa: S105 - the row's name, not a secret


def stored_secret_key(session: Session) -> str:
    """The installation's key, created on first call; concurrent first calls agree on one."""
    session.execute(
        insert(InstanceKey)
        .values(name=SECRET_KEY_NAME, value=secrets.token_urlsafe(48))
        .on_conflict_do_nothing(index_elements=[InstanceKey.name])
    )
    value = session.scalar(select(InstanceKey.value).where(InstanceKey.name == SECRET_KEY_NAME))
    if value is None or value in KNOWN_BUILT_IN_SECRETS:  # pragma: no cover - written above
        raise RuntimeError("the stored secret key is missing or a published default")
    return value


def secret_key(settings: Settings, session: Session) -> str:
    return settings.secret_key or stored_secret_key(session)


def sign(key: str, purpose: str, value: str) -> str:
    """An HMAC of `value` for one `purpose`, so a token made for one use fits no other."""
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
