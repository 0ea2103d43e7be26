"""On the Citus cluster: The correlator against the oracle logs
(tests.flows.correlation.test_correlator_oracle)."""

import pytest

from tests.flows.correlation.test_correlator_oracle import *  # noqa: F403

pytestmark = pytest.mark.citus
