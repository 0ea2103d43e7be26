"""On the Citus cluster: The query API
(tests.query.test_api)."""

import pytest

from tests.query.test_api import *  # noqa: F403

pytestmark = pytest.mark.citus
