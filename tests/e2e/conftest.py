"""Browser tests: a real Flowscope server on a free port, driven by Debian's Chromium.

Chromium comes from `apt-get install chromium` (never `playwright install`). Without it the
tests skip, except when FLOWSCOPE_REQUIRE_BROWSER=1 (CI), where they fail.
Screenshots land in artifacts/screenshots/ (kept out of git).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from flowscope.app import create_app
from flowscope.auth import service as auth_service
from flowscope.auth.models import Role
from flowscope.db import Database
from flowscope.settings import Settings
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is a browser test: mark it `e2e` so that `-m "not e2e"` skips
    them all, a new module included. This hook sees the whole session's items, so it marks only
    those of this folder; tryfirst so the marks exist before `-m` selects."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The live server's settings object, which its pages read (one per session).
LIVE_SETTINGS: list[Settings] = []


@pytest.fixture(scope="session")
def live_server(database: Database, database_url: str) -> Iterator[str]:
    settings = Settings(
        env="test",
        database_url=database_url,
        bootstrap_admin=False,
        scheduler_enabled=False,
        log_format="text",
        log_level="WARNING",
    )
    app = create_app(settings, database=database)
    LIVE_SETTINGS.append(settings)  # a test may switch a page option, e.g. trace_url
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("FLOWSCOPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, live_server: str, clean_db: Database) -> Iterator[Page]:
    """A fresh browser page; any console error or uncaught exception fails the test."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        # Chromium also logs every HTTP error status as a console error; a page answered with
        # 401 or 404 on purpose is not a script error, so failed loads are judged below.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            problems.append(f"console error: {msg.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            problems.append(
                f"{response.status} for {response.request.resource_type} {response.url}"
            )

    pg.on("console", on_console)
    pg.on("response", on_response)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    yield pg
    context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    def take(pg: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def browser_login(clean_db: Database) -> Callable[[Page, Role], None]:
    """Create a user with `role` and sign in through the login form."""

    def login(pg: Page, role: Role = Role.viewer) -> None:
        name = f"{role.value}-e2e"
        with clean_db.sessions.begin() as s:
            auth_service.create_user(s, name, PASSWORD, role)
        pg.goto("/login")
        pg.get_by_label("Username").fill(name)
        pg.get_by_label("Password").fill(PASSWORD)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url(lambda url: "/login" not in url)

    return login
