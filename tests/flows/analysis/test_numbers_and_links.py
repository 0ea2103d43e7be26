"""One number and money rule (issue 13, point 7), the trace link and the notebook's FQL for a
flow view (point 8): pure functions, checked without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from flowscope.flows.analysis.formatting import money, number, percent, trace_link
from flowscope.flows.analysis.notebook import flow_query, timeline_query
from flowscope.flows.definitions.schemas import FlowDefinition
from flowscope.query.presentation import cell_text
from flowscope.settings import get_settings
from tests.flows.views_support import SHOP

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
END = datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def locale(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FLOWSCOPE_LOCALE", "de_DE")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_money_is_shown_to_the_cent_whatever_its_size() -> None:
    # The flow page used to say 594,246 where the dashboard said 593,724.29.
    assert money(593724.29) == "593,724.29"
    assert money(593724.29, "USD") == "$593,724.29"
    assert money(12.5, "EUR") == "€12.50"
    assert money(1500, "JPY") == "¥1,500"  # no minor unit
    assert money(None, "USD") == "—"


def test_the_flow_page_and_a_dashboard_tile_show_one_figure_alike() -> None:
    assert cell_text(593724.2871, "number") == number(593724.2871) == "593,724.29"
    assert cell_text(1549.0, "number") == number(1549) == "1,549"
    assert number(0.00421) == "0.0042"


def test_separators_follow_the_configured_locale(locale: None) -> None:
    assert number(1549) == "1.549"
    assert money(593724.29, "EUR") == "593.724,29\xa0€"
    assert percent(0.125) == "12,5 %"
    assert cell_text(1234.5, "number") == "1.234,50"


def test_an_unknown_locale_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from flowscope.settings import Settings

    with pytest.raises(ValidationError, match="FLOWSCOPE_LOCALE"):
        Settings(locale="xx_NOPE")


def test_a_timeframe_cell_reads_as_text_not_json() -> None:
    value = {"start": "2026-01-02T03:00:00+00:00", "end": "2026-01-02T04:00:00+00:00"}
    assert cell_text(value, "json") == "2026-01-02 03:00:00 UTC – 2026-01-02 04:00:00 UTC"
    assert cell_text({"start": 1, "other": 2}, "json") == '{"start": 1, "other": 2}'


def test_trace_ids_link_through_the_template_encoded() -> None:
    template = "https://jaeger.example/trace/{trace_id}"
    assert trace_link(None, "abc") is None
    assert trace_link(template, "abc123") == "https://jaeger.example/trace/abc123"
    assert trace_link(template, "a/b?c") == "https://jaeger.example/trace/a%2Fb%3Fc"
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_link(template, parent) == (
        "https://jaeger.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    )


def test_a_trace_template_without_its_placeholder_is_refused() -> None:
    from pydantic import ValidationError

    from flowscope.settings import Settings

    with pytest.raises(ValidationError, match="trace_id"):
        Settings(trace_url="https://jaeger.example/trace/")
    with pytest.raises(ValidationError, match="http"):
        Settings(trace_url="javascript:alert({trace_id})")


def _q(params: str | None) -> dict[str, str]:
    assert params is not None
    return {k: v[0] for k, v in parse_qs(params).items()}


def test_the_notebook_query_of_a_flow_and_its_filters() -> None:
    q = _q(flow_query('we"ird', START, END))
    assert q["q"] == 'fetch flows\n| filter flow == "we\\"ird"'
    assert (q["from"], q["to"]) == (START.isoformat(), END.isoformat())
    q = _q(flow_query("orders", START, END, step="paid", status="dropped"))
    assert q["q"].splitlines()[1:] == ['| filter flow == "orders"', '| filter state == "dropped"',
                                       '| filter step == "paid"']  # fmt: skip
    assert "exception == true" in _q(flow_query("orders", START, END, status="exception"))["q"]


def test_a_step_alone_and_an_exception_at_a_step_read_the_steps_fields() -> None:
    reached = _q(flow_query("orders", START, END, step="paid"))["q"]
    assert reached.splitlines()[-1] == '| filter in("paid", steps)'
    at_step = _q(flow_query("orders", START, END, step="paid", status="exception"))["q"]
    assert at_step.splitlines()[-2:] == [
        "| filter exception == true",
        '| filter in("paid", exception.steps)',
    ]


def test_views_fql_cannot_reproduce_get_no_link() -> None:
    assert flow_query("orders", START, END, filtered=True) is None


def test_the_notebook_query_of_a_timeline() -> None:
    definition = FlowDefinition.model_validate(SHOP)
    q = _q(timeline_query(definition, "A-1", START, END))
    lines = q["q"].splitlines()
    assert lines[:3] == ["fetch bizevents", '| filter `order.id` == "A-1"',
                         '| filter in(event.provider, "shop")']  # fmt: skip
    assert '"parcel.failed"' in lines[3]  # exception events are on the timeline too
    assert q["to"] == "2026-01-03T03:04:05.001000+00:00"  # the last event is inside
