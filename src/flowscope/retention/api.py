"""`/api/v1/retention`: per-provider retention for admin tokens and admins."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request

from flowscope.auth.models import ApiToken, Role, Scope, User
from flowscope.deps import RequireScope, SessionDep
from flowscope.params import Text
from flowscope.retention import service
from flowscope.retention.rules import rules_cache
from flowscope.retention.schemas import ProviderRetentionOut, RetentionChange, RetentionList

router = APIRouter(prefix="/api/v1", tags=["retention"])
Admin = Annotated[ApiToken | User, Depends(RequireScope(Scope.admin, allow_user_role=Role.admin))]


@router.get("/retention", response_model=RetentionList, name="api_retention")
def api_retention(request: Request, session: SessionDep, _: Admin) -> dict[str, Any]:
    """Every provider with events or a setting, with its retention and deletion horizon."""
    default = request.app.state.settings.retention_days
    rows = service.list_retention(session, default)
    return {"default_days": default, "providers": [asdict(r) for r in rows]}


@router.put("/retention/{provider}", response_model=ProviderRetentionOut, name="api_retention_set")
def api_retention_set(
    request: Request,
    session: SessionDep,
    _: Admin,
    background: BackgroundTasks,
    provider: Annotated[Text, Path(max_length=256)],
    change: RetentionChange,
) -> dict[str, Any]:
    """Keep a provider's events `days` days (`null`: the default again). Audited."""
    result = service.set_retention(
        session, provider, change.days, request.app.state.settings.retention_days
    )
    background.add_task(rules_cache(request.app).invalidate)  # after the commit
    return asdict(result)
