"""On the Citus cluster: The flow page's JSON API
(tests.flows.analysis.test_analysis_api)."""

import pytest

from tests.flows.analysis.test_analysis_api import *  # noqa: F403

pytestmark = pytest.mark.citus
