"""On the Citus cluster: SIGKILL mid-stream loses no acknowledged event
(tests.ingest.test_crash)."""

import pytest

from tests.ingest.test_crash import *  # noqa: F403

pytestmark = pytest.mark.citus
