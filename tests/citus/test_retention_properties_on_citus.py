"""On the Citus cluster: after retention the flow rows and rollups equal a rebuild from the
events left (tests.retention.test_properties)."""

import pytest

from tests.retention import conftest as retention
from tests.retention.test_properties import *  # noqa: F403

settings = retention.settings  # the fixture (retention's shipped default), not hypothesis'
pytestmark = pytest.mark.citus
