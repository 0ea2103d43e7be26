"""Imports every domain's models so that `Base.metadata` knows all tables."""


def load_all_models() -> None:
    from flowscope import jobs as _jobs  # noqa: F401  (the scheduler's job store table)
    from flowscope.audit import models as _audit  # noqa: F401
    from flowscope.auth import models as _auth  # noqa: F401
    from flowscope.dashboards import models as _dashboards  # noqa: F401
    from flowscope.flows.correlation import models as _flows  # noqa: F401
    from flowscope.generator import models as _generator  # noqa: F401
    from flowscope.ingest import models as _ingest  # noqa: F401
    from flowscope.query import models as _query  # noqa: F401
