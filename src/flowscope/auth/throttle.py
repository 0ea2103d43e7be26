"""Sign-in throttling per account name and per client address, with growing delays.

The state lives in PostgreSQL (`login_throttle`), not in process memory: every web process
and every machine sharing the database sees the same counters, so running more workers does
not multiply an attacker's guesses, and a restart does not reset them.

A name or address gets a few free failures, then each failure blocks it for twice as long as
the one before (1 s, 2 s, 4 s ... up to 5 minutes). A blocked attempt is refused with 429 and
`Retry-After` before any password is hashed. Counters are forgotten an hour after the last
failure. A success clears the account's counter, not the address's: otherwise an attacker with
one valid account could reset their address between guesses at other accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flowscope.auth.models import LoginThrottle

FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Policy:
    prefix: str
    free_failures: int
    max_delay_seconds: float
    first_delay_seconds: float = 1.0

    def delay(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        growth = 2 ** min(failures - self.free_failures, 30)
        return float(min(self.max_delay_seconds, self.first_delay_seconds * growth))


ACCOUNT = Policy("u:", free_failures=5, max_delay_seconds=300)
# Several people behind one NAT share an address: it gets more free failures than an account.
ADDRESS = Policy("a:", free_failures=20, max_delay_seconds=300)


def account_key(username: str) -> str:
    return ACCOUNT.prefix + username.strip().lower()[:64]


def _keys(username: str, ip: str | None) -> list[tuple[Policy, str]]:
    # the module's policies are read per call, so tests can substitute them
    keys = [(ACCOUNT, account_key(username))]
    if ip:
        keys.append((ADDRESS, ADDRESS.prefix + ip[:64]))
    return keys


def retry_after(session: Session, username: str, ip: str | None, now: datetime) -> int | None:
    """Seconds until this name and address may try again, or None when they may now."""
    until = session.scalar(
        select(func.max(LoginThrottle.blocked_until)).where(
            LoginThrottle.key.in_([key for _, key in _keys(username, ip)]),
            LoginThrottle.blocked_until > now,
        )
    )
    if until is None:
        return None
    return max(1, math.ceil((until - now).total_seconds()))


def record_failure(session: Session, username: str, ip: str | None, now: datetime) -> None:
    for policy, key in _keys(username, ip):
        stale = LoginThrottle.last_failure_at < now - FORGET_AFTER
        upsert = insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now)
        failures = session.scalar(
            upsert.on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={
                    "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                    "last_failure_at": now,
                },
            ).returning(LoginThrottle.failures)
        )
        delay = policy.delay(failures or 1)
        if delay:
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(blocked_until=now + timedelta(seconds=delay))
            )


def clear_account(session: Session, username: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(username)))


def purge(session: Session, now: datetime) -> None:
    """Forget counters nobody will look at again (run at sign-in; the table stays small)."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - FORGET_AFTER,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        )
    )
