"""On the Citus cluster: a rebuild's backfill and materialization, on several connections at
once and after a failed run (tests.flows.correlation.test_correlator_rebuild)."""

import pytest

from tests.flows.correlation.test_correlator_rebuild import *  # noqa: F403

pytestmark = pytest.mark.citus
