"""Property-based requests from the app's own OpenAPI schema: the ingest route never answers 5xx.

The schema comes from an app built at import time (building one opens no database); the
requests go in-process to an app on the test database, with a valid write token.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from flowscope.app import create_app
from flowscope.db import Database
from flowscope.settings import Settings
from tests.fixtures.events import INGEST_URL


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: schemathesis.SerializationContext, value: Any) -> dict[str, Any]:
    """NDJSON is documented as text: send generated text as is, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    return {"data": text.encode("utf-8", "surrogatepass")}


_DOCUMENT = create_app(Settings(env="test", bootstrap_admin=False)).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT).include(path=INGEST_URL)


@pytest.fixture
def app(clean_db: Database, settings: Settings) -> FastAPI:
    return create_app(settings, database=clean_db)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_ingest_never_answers_a_server_error(
    case: Case, app: FastAPI, write_headers: dict[str, str]
) -> None:
    # Every other check runs (no 5xx, documented status codes, bodies and headers). Positive
    # data acceptance is left out: JSON Schema cannot say that a name must not be blank or a
    # timestamp not more than ten minutes ahead, so schema-valid events may rightly get a 400.
    case.call_and_validate(
        app=app, headers=write_headers, excluded_checks=[positive_data_acceptance]
    )
