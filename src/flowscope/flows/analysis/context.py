"""The flow a request is about, resolved once: the flow, the build readers see, and the
definition that build was made from.

Resolving it once per request matters beyond the saved queries: a build can become ready
between two look-ups, and a page whose KPIs came from one build and whose drill-down came
from the next would not add up. Routes get it through `FlowContextDep` (from the `slug` path
parameter); the services take it and never look the flow up again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from flowscope.deps import SessionDep
from flowscope.flows.analysis.schemas import BuildStatus
from flowscope.flows.correlation.builds import current_build, latest_build
from flowscope.flows.correlation.models import FlowBuild
from flowscope.flows.definitions.models import Flow, FlowVersion
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.flows.definitions.service import get_flow


@dataclass(frozen=True)
class FlowContext:
    flow: Flow
    definition: FlowDefinition  # the version the shown results were built for
    build: FlowBuild | None  # the `ready` build readers see; None until the first is ready
    latest: FlowBuild | None  # the newest build of any state: a rebuild's progress

    @property
    def slug(self) -> str:
        return self.flow.slug

    @property
    def results_as_of(self) -> datetime | None:
        """Every event committed before this time is in the results shown."""
        return self.build.snapshot_at if self.build else None

    @property
    def status(self) -> BuildStatus | None:
        """The newest build's status, which the pages show while a rebuild runs."""
        return BuildStatus.of(self.latest) if self.latest else None


def load_flow_context(session: Session, flow: Flow) -> FlowContext:
    build = current_build(session, flow.id)
    definition = flow.definition
    if build is not None and build.version != flow.version:
        # The results shown are the previous version's until the rebuild is ready: name and
        # count the steps as that version did.
        stored = session.scalar(
            select(FlowVersion.definition).where(
                FlowVersion.flow_id == flow.id, FlowVersion.version == build.version
            )
        )
        definition = stored or definition
    return FlowContext(
        flow, FlowDefinition.model_validate(definition), build, latest_build(session, flow.id)
    )


def flow_context(session: SessionDep, slug: str) -> FlowContext:
    """The dependency: the flow of the `slug` path parameter; 404 when there is none."""
    return load_flow_context(session, get_flow(session, slug))


FlowContextDep = Annotated[FlowContext, Depends(flow_context)]
