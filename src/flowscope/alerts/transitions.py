"""What the alerts domain tells the rest of the application when an alert opens or resolves.

The evaluator calls every `AlertHook` it was given (by `flowscope.wiring`) inside the same
transaction that changes the alert, so a hook that records work (the automations' outbox)
commits or rolls back with the state change itself: no opened alert without its
notification, and no notification for an alert that was never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

AlertChange = Literal["opened", "resolved"]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class AlertSample:
    at: datetime  # the start of the sample's interval
    value: float | None  # None: no data in that interval
    violating: bool


@dataclass(frozen=True)
class AlertTransition:
    change: AlertChange
    alert_id: int
    rule_id: int
    rule_name: str
    severity: Severity
    at: datetime  # when the alert opened or resolved
    started_at: datetime
    flow: str | None = None  # the flow's slug when the rule watches a flow KPI
    kpi: str | None = None
    group: dict[str, str] = field(default_factory=dict)  # a `by:` group of a query rule
    threshold: str = ""  # the threshold or band as text, e.g. "above 10" or "outside 12–40"
    samples: tuple[AlertSample, ...] = ()
    url: str = ""  # the alert's page, relative to the app's root
    flow_url: str | None = None  # the flow page at the alert's window
    notebook_url: str | None = None  # the rule's query in the notebook

    def as_template_data(self) -> dict[str, object]:
        """The `alert` variable that automation templates see."""
        return {
            "id": self.alert_id,
            "change": self.change,
            "rule": {"id": self.rule_id, "name": self.rule_name, "severity": self.severity},
            "severity": self.severity,
            "at": self.at.isoformat(),
            "started_at": self.started_at.isoformat(),
            "flow": self.flow,
            "kpi": self.kpi,
            "group": dict(self.group),
            "threshold": self.threshold,
            "samples": [
                {"at": s.at.isoformat(), "value": s.value, "violating": s.violating}
                for s in self.samples
            ],
            "url": self.url,
            "flow_url": self.flow_url,
            "notebook_url": self.notebook_url,
        }


# Called in the evaluator's transaction; must not commit, and should only write rows.
AlertHook = Callable[[Session, AlertTransition], None]
