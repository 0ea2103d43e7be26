"""Retention settings: per-provider overrides, read and changed with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from flowscope.audit import service as audit
from flowscope.errors import FlowscopeError
from flowscope.ingest.validation import MAX_NAME_LENGTH
from flowscope.retention.models import RetentionProvider
from flowscope.retention.rules import MAX_DAYS

_NEXT_PROVIDER = text("select provider from events where provider > :p order by provider limit 1")
MAX_LISTED = 500


@dataclass(frozen=True)
class ProviderRetention:
    provider: str
    days: int  # effective; 0: kept forever
    override: bool
    purged_before: datetime | None


def check_days(days: int | None) -> int | None:
    if days is not None and not 0 <= days <= MAX_DAYS:
        raise FlowscopeError(f"days: must be between 1 and {MAX_DAYS} (0: forever), not {days}")
    return days


def check_provider(provider: str) -> str:
    name = provider.strip()
    if not name:
        raise FlowscopeError("provider: must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise FlowscopeError(f"provider: must be at most {MAX_NAME_LENGTH} characters")
    return name


def set_retention(
    session: Session, provider: str, days: int | None, default_days: int
) -> ProviderRetention:
    """Keep `provider`'s events `days` days (None: the default again). Audited; every check
    comes before the first write."""
    provider = check_provider(provider)
    check_days(days)
    row = session.get(RetentionProvider, provider, with_for_update=True)
    previous = row.days if row is not None else None
    if row is None:
        row = RetentionProvider(provider=provider, days=days)
        session.add(row)
    else:
        row.days = days
    session.flush()
    action = "retention.reset" if days is None else "retention.set"
    audit.record(session, action, f"provider:{provider}", {"days": days, "previous": previous})
    return ProviderRetention(provider, days or default_days, days is not None, row.purged_before)


def known_providers(session: Session, limit: int = MAX_LISTED) -> list[str]:
    """Providers with stored events, one index probe each (at most `limit`)."""
    found: list[str] = []
    value = session.execute(text("select min(provider) from events")).scalar_one_or_none()
    while value is not None and len(found) < limit:
        found.append(value)
        value = session.execute(_NEXT_PROVIDER, {"p": value}).scalar_one_or_none()
    return found


def list_retention(session: Session, default_days: int) -> list[ProviderRetention]:
    """Every provider with events or a retention row, with its effective retention."""
    rows = {r.provider: r for r in session.scalars(select(RetentionProvider)).all()}
    names = sorted(set(rows) | set(known_providers(session)))
    result = []
    for name in names:
        row = rows.get(name)
        days = row.days if row is not None else None
        result.append(
            ProviderRetention(
                name,
                days if days is not None else default_days,
                days is not None,
                row.purged_before if row is not None else None,
            )
        )
    return result
