"""Saved notebook queries: per user, named, overwritten when saved again under the same name."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flowscope.errors import FlowscopeError, NotFound
from flowscope.query.models import SavedQuery

MAX_NAME = 128
MAX_QUERY = 20_000


def list_saved(session: Session, user_id: int) -> list[SavedQuery]:
    rows = session.scalars(
        select(SavedQuery).where(SavedQuery.user_id == user_id).order_by(SavedQuery.name)
    )
    return list(rows)


def get_saved(session: Session, user_id: int, query_id: int) -> SavedQuery:
    saved = session.get(SavedQuery, query_id)
    if saved is None or saved.user_id != user_id:
        raise NotFound(f"saved query {query_id} does not exist")
    return saved


def save_query(
    session: Session,
    user_id: int,
    name: str,
    query: str,
    time_from: str | None = None,
    time_to: str | None = None,
) -> SavedQuery:
    name = name.strip()
    if not name:
        raise FlowscopeError("name: give the query a name")
    if len(name) > MAX_NAME:
        raise FlowscopeError(f"name: at most {MAX_NAME} characters")
    if not query.strip():
        raise FlowscopeError("query: an empty query cannot be saved")
    if len(query) > MAX_QUERY:
        raise FlowscopeError(f"query: at most {MAX_QUERY} characters")
    values = {
        "user_id": user_id,
        "name": name,
        "query": query,
        "time_from": (time_from or None),
        "time_to": (time_to or None),
    }
    statement = (
        insert(SavedQuery)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["user_id", "name"],
            set_={
                "query": query,
                "time_from": values["time_from"],
                "time_to": values["time_to"],
                "updated_at": func.now(),
            },
        )
        .returning(SavedQuery.id)
    )
    query_id = session.execute(statement).scalar_one()
    session.expire_all()
    return get_saved(session, user_id, query_id)


def delete_saved(session: Session, user_id: int, query_id: int) -> None:
    session.delete(get_saved(session, user_id, query_id))
    session.flush()
