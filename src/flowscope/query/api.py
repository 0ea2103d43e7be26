"""POST /api/v1/query: run an FQL query and answer rows as JSON; GET /api/v1/query/completions:
what the notebook's editor offers while typing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.deps import RequireScope, SessionDep, SettingsDep
from flowscope.query import service
from flowscope.query.completion import completions
from flowscope.query.schemas import (
    CompletionsResponse,
    QueryErrorResponse,
    QueryRequest,
    QueryResponse,
)

router = APIRouter(prefix="/api/v1", tags=["query"])
Reader = Annotated[
    ApiToken | User, Depends(RequireScope(Scope.events_read, allow_user_role=Role.viewer))
]


@router.post(
    "/query",
    name="api_query",
    response_model=QueryResponse,
    response_model_exclude_none=True,
    responses={400: {"model": QueryErrorResponse, "description": "the query has a mistake"}},
)
def run_query(
    body: QueryRequest, session: SessionDep, settings: SettingsDep, reader: Reader
) -> dict[str, Any]:
    result = service.run_query(
        session,
        body.query,
        time_from=body.time_from,
        time_to=body.time_to,
        timeout_s=settings.query_timeout_seconds,
        row_cap=settings.query_row_cap,
        default_from=settings.query_default_from,
        max_columns=settings.query_max_columns,
        max_bytes=settings.query_max_result_bytes,
    )
    return result.as_dict()


@router.get("/query/completions", name="api_query_completions", response_model=CompletionsResponse)
def query_completions(session: SessionDep, reader: Reader) -> dict[str, Any]:
    """Commands, functions with their signatures, and the field names seen in recent events."""
    return completions(session).as_dict()
