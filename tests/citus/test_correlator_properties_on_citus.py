"""On the Citus cluster: Property: incremental correlation equals a rebuild
(tests.flows.correlation.test_correlator_properties)."""

import pytest

from tests.flows.correlation.test_correlator_properties import *  # noqa: F403

pytestmark = pytest.mark.citus
