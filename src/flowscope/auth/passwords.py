"""Password hashing with a bound on how many argon2 hashes run at once.

Each argon2 hash takes 64 MiB and ~0.1-0.5 s of a core. Unbounded, 40 concurrent wrong
sign-ins took the server from 110 MiB to 1.4 GiB and starved the thread pool (bench/
login_flood.py). Every hash in the process goes through one semaphore; the sign-in route also
waits for its turn on the event loop (`auth.views`), so waiting costs no thread.
"""

from __future__ import annotations

import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_slots = threading.BoundedSemaphore(2)
_slot_count = 2


def configure(concurrency: int) -> None:
    """Set how many hashes may run at once (from `login_hash_concurrency`, at app start)."""
    global _slots, _slot_count
    if concurrency != _slot_count:
        _slots, _slot_count = threading.BoundedSemaphore(concurrency), concurrency


def concurrency() -> int:
    return _slot_count


@cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so a wrong name costs as long as a wrong password.

    Made on first use: hashing at import cost every CLI command a third of a second.
    """
    with _slots:
        return _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Whether `password` matches (always a full hash, even without a stored one), and a new
    hash when the stored one uses outdated parameters."""
    stored = password_hash or _dummy_hash()
    with _slots:
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if password_hash is None:
            return False, None
        rehash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    return True, rehash
