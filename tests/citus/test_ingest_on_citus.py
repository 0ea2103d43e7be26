"""On the Citus cluster: Ingest API: formats, duplicates, idempotency
(tests.ingest.test_api)."""

import pytest

from tests.ingest.test_api import *  # noqa: F403

pytestmark = pytest.mark.citus
