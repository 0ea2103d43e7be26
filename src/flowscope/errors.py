"""One error hierarchy for everything a user can get wrong; handlers live in `app.py`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FlowscopeError(Exception):
    """An error whose message is meant for the user, with the HTTP status that carries it."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, status_code: int | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class NotFound(FlowscopeError):
    status_code = 404
    code = "not_found"


class Conflict(FlowscopeError):
    status_code = 409
    code = "conflict"


class Unauthorized(FlowscopeError):
    status_code = 401
    code = "unauthorized"


class Forbidden(FlowscopeError):
    status_code = 403
    code = "forbidden"


class LoginRequired(FlowscopeError):
    """A page needs a signed-in user: pages answer with a redirect to the login form."""

    status_code = 401
    code = "login_required"


class PayloadTooLarge(FlowscopeError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(FlowscopeError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(FlowscopeError):
    status_code = 503
    code = "unavailable"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The JSON body of every error answer (`FlowscopeError.to_dict()`), for OpenAPI."""

    error: ErrorDetail
