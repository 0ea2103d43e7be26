"""On the Citus cluster: Rebuilds after a flow changes
(tests.flows.correlation.test_correlator_builds)."""

import pytest

from tests.flows.correlation.test_correlator_builds import *  # noqa: F403

pytestmark = pytest.mark.citus
