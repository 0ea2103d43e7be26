"""On the Citus cluster: The correlator's rules
(tests.flows.correlation.test_correlator)."""

import pytest

from tests.flows.correlation.test_correlator import *  # noqa: F403

pytestmark = pytest.mark.citus
