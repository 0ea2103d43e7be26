"""Where the domains are tied together: the scheduler's jobs and the generator's hooks.

The one module that knows every domain's jobs, imported by the app factory and the CLI only.
`flowscope.jobs` and the domains stay below it and never import it, so adding a job or a hook
here creates no import cycle. Both values are immutable: what runs is decided here, not by
whichever module happened to be imported first.
"""

from __future__ import annotations

from typing import Final

from flowscope.alerts import jobs as alert_jobs
from flowscope.alerts.transitions import AlertHook
from flowscope.automations import jobs as automation_jobs
from flowscope.automations.triggers import on_alert_transition
from flowscope.dashboards.templating import create_template_dashboard
from flowscope.flows.correlation import jobs as correlation_jobs
from flowscope.generator import jobs as generator_jobs
from flowscope.generator.flowdef import FlowCreatedHook
from flowscope.jobs import JobRegistry
from flowscope.retention import jobs as retention_jobs

# A flow the generator creates gets its template dashboard, however the generator runs
# (scheduler, "Run now", `flowscope generate`, the demo).
FLOW_CREATED_HOOKS: Final[tuple[FlowCreatedHook, ...]] = (create_template_dashboard,)

# Called by the alert evaluator in the transaction that opens or resolves an alert: the
# automations write their runs into the outbox there.
ALERT_HOOKS: Final[tuple[AlertHook, ...]] = (on_alert_transition,)


def job_registry(
    on_flow_created: tuple[FlowCreatedHook, ...] = FLOW_CREATED_HOOKS,
    alert_hooks: tuple[AlertHook, ...] = ALERT_HOOKS,
) -> JobRegistry:
    """Every domain's fixed jobs, plus the jobs read from the database: one per enabled
    generator, the alert evaluator's, one per scheduled automation."""
    return JobRegistry(
        jobs=(
            *correlation_jobs.JOBS,
            *generator_jobs.JOBS,
            *retention_jobs.JOBS,
            *automation_jobs.jobs(),
        ),
        sources=(
            generator_jobs.job_source(on_flow_created),
            alert_jobs.job_source(alert_hooks),
            automation_jobs.scheduled_automations,
        ),
    )
