"""What a browser carries: cookies for the sign-in, the CSRF token and a little UI state.

Three cookies, all HttpOnly and SameSite=Lax (Secure with `secure_cookies`):

- `flowscope_session`: a random id naming a row of `user_sessions`. It carries no claims: who
  is signed in is only ever read from the database (`deps.optional_user`), so nothing a client
  signs or edits itself can make it an admin.
- `flowscope_csrf`: a random id a browser gets before it signs in, so the sign-in form has a
  CSRF token too. Ignored once a session cookie is present.
- `flowscope_ui`: a signed dict for UI state between a POST and the page after its redirect
  (flash messages), exposed as `request.session`. Never read for authentication.

The CSRF token is an HMAC of the session id (or of the pre-session id) under the secret key:
a page of another site can neither read the cookie nor compute the token, the token changes
when the user signs in, and checking it needs no database query.

This middleware only parses and writes cookies; it never touches the database, so it costs
the event loop nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import itsdangerous
from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowscope.auth.keys import sign

SESSION_COOKIE = "flowscope_session"
ANON_COOKIE = "flowscope_csrf"
UI_COOKIE = "flowscope_ui"
UI_MAX_AGE = 3600  # flash messages live across one redirect; an hour is plenty
STATE_KEY = "flowscope.browser"
MAX_COOKIE_ID = 128  # ids we issue are 43 characters; anything longer is not ours


@dataclass
class BrowserState:
    """Cookies of one request, and the cookie changes its response should carry."""

    session_id: str | None
    anon_id: str | None
    new_session_id: str | None = None
    drop_session: bool = False
    anon_issued: bool = False
    ui_before: dict[str, Any] = field(default_factory=dict)

    def effective_session_id(self) -> str | None:
        if self.drop_session:
            return self.new_session_id
        return self.new_session_id or self.session_id

    def anon_id_for_form(self) -> str:
        """The pre-session id, issued now (and set on the response) when the browser has none."""
        if self.anon_id is None:
            self.anon_id = secrets.token_urlsafe(32)
            self.anon_issued = True
        return self.anon_id


def browser_state(request: Request) -> BrowserState:
    state: BrowserState = request.scope[STATE_KEY]
    return state


def client_address(request: Request) -> str | None:
    """The client's address (uvicorn's `proxy_headers` puts a trusted proxy's X-Forwarded-For
    here), for throttling and the audit log."""
    return request.client.host[:64] if request.client else None


def secret_key_of(request: Request) -> str:
    key: str | None = getattr(request.app.state, "secret_key", None)
    if key is None:
        raise RuntimeError("the secret key is not loaded: the app's lifespan has not run")
    return key


def csrf_for(request: Request) -> str:
    """The CSRF token forms and HTMX requests of this page must send back."""
    state = browser_state(request)
    key = secret_key_of(request)
    session_id = state.effective_session_id()
    if session_id is not None:
        return sign(key, "csrf-session", session_id)
    return sign(key, "csrf-anon", state.anon_id_for_form())


def expected_csrf(request: Request) -> str | None:
    """The token this request must carry, from the cookies it came with (None: it cannot)."""
    state = browser_state(request)
    key = secret_key_of(request)
    if state.session_id is not None:
        return sign(key, "csrf-session", state.session_id)
    if state.anon_id is not None:
        return sign(key, "csrf-anon", state.anon_id)
    return None


@lru_cache(maxsize=4)
def _ui_signer(key: str) -> itsdangerous.TimestampSigner:
    return itsdangerous.TimestampSigner(sign(key, "ui-cookie", ""))


def _cookie_id(connection: HTTPConnection, name: str) -> str | None:
    value = connection.cookies.get(name)
    if not value or len(value) > MAX_COOKIE_ID or not value.isascii():
        return None
    return value


class BrowserCookies:
    """Pure ASGI middleware (no buffering of bodies, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, secure: bool, session_max_age: int) -> None:
        self.app = app
        self.flags = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self.session_max_age = session_max_age

    def _signer(self, scope: Scope) -> itsdangerous.TimestampSigner | None:
        key = getattr(scope["app"].state, "secret_key", None)
        return _ui_signer(key) if key else None

    def _load_ui(self, scope: Scope, raw: str | None) -> dict[str, Any]:
        if not raw:  # most requests (all of ingest): no signer, no HMAC
            return {}
        signer = self._signer(scope)
        if signer is None:
            return {}
        try:
            data = json.loads(base64.b64decode(signer.unsign(raw, max_age=UI_MAX_AGE)))
        except (itsdangerous.BadSignature, binascii.Error, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _ui_cookie(self, scope: Scope, data: dict[str, Any]) -> str | None:
        signer = self._signer(scope)
        if signer is None:
            return None
        if not data:
            return f"{UI_COOKIE}=; {self.flags}; Max-Age=0"
        value = signer.sign(base64.b64encode(json.dumps(data).encode())).decode()
        return f"{UI_COOKIE}={value}; {self.flags}; Max-Age={UI_MAX_AGE}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        ui = self._load_ui(scope, connection.cookies.get(UI_COOKIE))
        state = BrowserState(
            session_id=_cookie_id(connection, SESSION_COOKIE),
            anon_id=_cookie_id(connection, ANON_COOKIE),
            ui_before=dict(ui),
        )
        scope[STATE_KEY] = state
        scope["session"] = ui

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for cookie in self._cookies(scope, state):
                    headers.append("Set-Cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _cookies(self, scope: Scope, state: BrowserState) -> list[str]:
        cookies = []
        if state.new_session_id is not None:
            cookies.append(
                f"{SESSION_COOKIE}={state.new_session_id}; {self.flags}; "
                f"Max-Age={self.session_max_age}"
            )
        elif state.drop_session:
            cookies.append(f"{SESSION_COOKIE}=; {self.flags}; Max-Age=0")
        if state.anon_issued:
            cookies.append(f"{ANON_COOKIE}={state.anon_id}; {self.flags}")
        ui = scope["session"]
        if ui != state.ui_before:
            cookie = self._ui_cookie(scope, ui)
            if cookie is not None:
                cookies.append(cookie)
        return cookies
