"""The compiler's intermediate state: a SELECT being built, and the compiled result."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowscope.query.expressions import Base, Col
from flowscope.query.values import T
from flowscope.timeframes import Timeframe


@dataclass
class Layer:
    from_sql: str
    fields: dict[str, Col]
    bases: list[Base]
    timeframe: Timeframe
    where: list[str] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit_param: str | None = None
    limit_value: int | None = None
    distinct_on: list[str] | None = None

    @property
    def reshaped(self) -> bool:
        """Rows were cut (limit) or collapsed (dedup): a filter now belongs to an outer layer."""
        return self.limit_param is not None or self.distinct_on is not None

    def record_order(self) -> tuple[tuple[str, bool], ...]:
        """(SQL, descending) pairs: an event source's own order, else the last sort."""
        for base in self.bases:
            if base.prefix == "":
                return tuple((base.cols[name], False) for name in base.source.order)
        return tuple(self.order)


@dataclass(frozen=True)
class OutputColumn:
    """A result column. `attributes`: a JSONB column expanded into one column per key."""

    name: str
    type: T
    attributes: bool = False
    prefix: str = ""
    skip: frozenset[str] = frozenset()


@dataclass
class CompiledQuery:
    sql: str
    params: dict[str, object]
    columns: list[OutputColumn]
    timeframe: Timeframe
    interval_ns: int | None = None  # set when the result is a time series
    series_timeframe: Timeframe | None = None
