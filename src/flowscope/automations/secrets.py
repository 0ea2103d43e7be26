"""Secrets at rest: Fernet with a key derived (HKDF-SHA256) from the installation's secret key.

Changing FLOWSCOPE_SECRET_KEY makes stored automation secrets unreadable: they then fail their
action with a message saying so, and must be entered again.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flowscope.errors import FlowscopeError

_INFO = b"flowscope automations secrets v1"


class SecretUnreadable(FlowscopeError):
    pass


@lru_cache(maxsize=8)
def _fernet(app_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        app_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(app_key: str, value: str) -> str:
    return _fernet(app_key).encrypt(value.encode()).decode()


def decrypt(app_key: str, token: str) -> str:
    try:
        return _fernet(app_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted (was the secret key changed?): enter it again"
        ) from None
