from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from lxml.etree import XMLSyntaxError
from sqlalchemy import text
from sqlalchemy.orm import Session

from flowscope.ingest.eventlog import (
    MAX_PENDING_EVENTS,
    ImportResult,
    LogError,
    LogFields,
    _to_event,
    event_id,
    import_event_log,
    read_csv,
    read_xes,
)
from flowscope.ingest.logreaders import Row
from flowscope.ingest.validation import Invalid, Limits, from_json_object

DATA = Path(__file__).resolve().parent.parent / "data"

XES = """<?xml version="1.0" encoding="utf-8" ?>
<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">
  <string key="origin" value="test" />
  <trace>
    <string key="concept:name" value="T-1" />
    <int key="priority" value="2" />
    <event>
      <string key="concept:name" value="Open" />
      <date key="time:timestamp" value="2010-01-04T10:00:00.000+01:00" />
      <int key="amount" value="12" />
      <float key="ratio" value="0.5" />
      <boolean key="urgent" value="true" />
      <string key="timestamp" value="clashes with ours" />
      <list key="tags"><values>
        <string key="tag" value="a" /><string key="tag" value="b" />
      </values></list>
      <container key="who"><string key="name" value="Ann" /><int key="age" value="40" /></container>
      <string key="org:resource" value="R1"><string key="note" value="meta" /></string>
    </event>
    <event>
      <string key="concept:name" value="Close" />
      <date key="time:timestamp" value="2010-01-04T09:30:00Z" />
    </event>
  </trace>
  <trace>
    <string key="concept:name" value="T-2" />
    <event>
      <string key="concept:name" value="Open" />
      <date key="time:timestamp" value="2013-12-31T23:59:59+00:00" />
    </event>
  </trace>
</log>
"""

CSV = """case:concept:name,case:channel,concept:name,time:timestamp,org:resource,cost,code
c-1,web,Open,2011-10-11 13:45:40.276000+02:00,R1,12.5,007
c-1,web,Close,2011-10-12 08:00:00+02:00,,3,x
c-2,mail,Open,2012-01-01T00:00:00Z,R2,,
"""


def stored(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text('select provider, event_id, type, "timestamp", attributes from events order by seq')
    )
    return [dict(r._mapping) for r in rows]


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(content.encode()))
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_xes_is_imported_in_file_order_with_typed_attributes(
    session: Session, tmp_path: Path
) -> None:
    result = import_event_log(session, write(tmp_path, "log.xes", XES), "tickets")
    session.commit()
    assert (result.read, result.stored, result.present, result.rejected) == (3, 3, 0, 0)
    rows = stored(session)
    assert [(r["event_id"], r["type"]) for r in rows] == [
        ("T-1:0", "Open"),
        ("T-1:1", "Close"),
        ("T-2:0", "Open"),
    ]
    assert rows[0]["timestamp"].isoformat() == "2010-01-04T09:00:00+00:00"
    assert rows[0]["attributes"] == {
        "case": {"id": "T-1", "priority": 2},
        "amount": 12,
        "ratio": 0.5,
        "urgent": True,
        "log:timestamp": "clashes with ours",
        "tags": ["a", "b"],
        "who": {"name": "Ann", "age": 40},
        "org:resource": {"value": "R1", "note": "meta"},
    }
    assert rows[1]["attributes"] == {"case": {"id": "T-1", "priority": 2}}


def test_xes_events_outside_traces_need_the_case_field_among_their_attributes(
    session: Session, tmp_path: Path
) -> None:
    content = """<log>
      <event><string key="concept:name" value="Open" /><string key="ticket" value="9" />
        <date key="time:timestamp" value="2012-01-01T00:00:00Z" /></event>
      <event><string key="concept:name" value="Close" />
        <date key="time:timestamp" value="2012-01-02T00:00:00Z" /></event>
    </log>"""
    result = import_event_log(
        session, write(tmp_path, "loose.xes", content), "p", LogFields(case="ticket")
    )
    assert (result.stored, result.rejected) == (1, 1)
    assert result.problems == ["event 2 outside a trace: ticket: the case id is missing"]
    [row] = stored(session)
    assert (row["event_id"], row["attributes"]) == ("9:0", {"case": {"id": "9"}})


def test_gzipped_xes_is_read_transparently(session: Session, tmp_path: Path) -> None:
    result = import_event_log(session, write(tmp_path, "log.xes.gz", XES), "tickets")
    assert result.stored == 3


def test_importing_again_stores_nothing_and_a_grown_log_only_the_new_events(
    session: Session, tmp_path: Path
) -> None:
    path = write(tmp_path, "log.csv", CSV)
    import_event_log(session, path, "permits")
    session.commit()
    again = import_event_log(session, path, "permits")
    assert (again.stored, again.present) == (0, 3)
    write(tmp_path, "log.csv", CSV + "c-1,web,Reopen,2011-10-13 08:00:00+02:00,R1,,\n")
    grown = import_event_log(session, path, "permits")
    assert (grown.stored, grown.present) == (1, 3)
    assert stored(session)[-1]["event_id"] == "c-1:2"


def test_csv_maps_case_columns_and_keeps_other_columns(session: Session, tmp_path: Path) -> None:
    import_event_log(session, write(tmp_path, "log.csv", CSV), "permits")
    first, second, third = stored(session)
    assert first["type"] == "Open"
    assert first["timestamp"].isoformat() == "2011-10-11T11:45:40.276000+00:00"
    assert first["attributes"] == {
        "case": {"id": "c-1", "channel": "web"},
        "org:resource": "R1",
        "cost": 12.5,
        "code": "007",  # not a plainly written number: kept as text
    }
    assert second["attributes"] == {"case": {"id": "c-1", "channel": "web"}, "cost": 3, "code": "x"}
    assert third["event_id"] == "c-2:0"


def test_other_column_names_can_be_given(session: Session, tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", "order,step,at\n42,placed,2012-03-04T05:06:07Z\n")
    result = import_event_log(
        session, path, "shop", LogFields(case="order", activity="step", timestamp="at")
    )
    assert result.stored == 1
    [row] = stored(session)
    assert (row["event_id"], row["type"], row["attributes"]) == (
        "42:0",
        "placed",
        {"case": {"id": "42"}},
    )


def test_invalid_rows_are_rejected_with_their_line_and_the_rest_stored(
    session: Session, tmp_path: Path
) -> None:
    content = (
        "case:concept:name,concept:name,time:timestamp\n"
        "a,Open,yesterday\n"
        ",Open,2012-01-01T00:00:00Z\n"
        "b,,2012-01-01T00:00:00Z\n"
        "c,Open,2999-01-01T00:00:00Z\n"
        "d,Open,\n"
        "e,Open,2012-01-01T00:00:00Z\n"
    )
    result = import_event_log(session, write(tmp_path, "bad.csv", content), "p")
    assert (result.read, result.stored, result.rejected) == (6, 1, 5)
    assert result.problems[0].startswith("line 2: timestamp: 'yesterday' is not an RFC 3339 time")
    assert result.problems[1] == "line 3: case:concept:name: the case id is missing"
    assert result.problems[2] == "line 4: concept:name: is required (it becomes event.type)"
    assert result.problems[3].startswith("line 5: timestamp: is ")
    assert "in the future" in result.problems[3]
    assert result.problems[4] == "line 6: time:timestamp: is required in an imported log"


@pytest.mark.parametrize("jobs", [1, 2])
def test_batches_report_progress_and_keep_file_order(
    session: Session, tmp_path: Path, jobs: int
) -> None:
    lines = [f"c{i % 3},step{i},2012-01-01T00:00:{i:02d}Z" for i in range(10)]
    path = write(
        tmp_path, "log.csv", "case:concept:name,concept:name,time:timestamp\n" + "\n".join(lines)
    )
    calls: list[tuple[int, int]] = []

    def progress(position: int, result: ImportResult) -> None:
        calls.append((position, result.stored))

    import_event_log(session, path, "p", batch_size=4, jobs=jobs, on_batch=progress)
    assert [stored for _, stored in calls] == [4, 8, 10]
    assert calls[-1][0] == path.stat().st_size
    assert [r["type"] for r in stored(session)] == [f"step{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("log.txt", "x", "unknown log format"),
        ("log.xes", "<log><trace>", "not a valid XES file"),
        ("log.xes", '<!DOCTYPE x [<!ENTITY a "b">]><log/>', "not a valid XES file"),
    ],
)
def test_unreadable_logs_give_one_clear_error(
    session: Session, tmp_path: Path, name: str, content: str, message: str
) -> None:
    with pytest.raises(LogError, match=message):
        import_event_log(session, write(tmp_path, name, content), "p")


def test_missing_file_is_named(session: Session, tmp_path: Path) -> None:
    with pytest.raises(LogError, match="no such file"):
        import_event_log(session, tmp_path / "nope.xes", "p")


def test_long_case_ids_get_a_hashed_event_id() -> None:
    assert event_id("c", 3) == "c:3"
    long_id = event_id("x" * 300, 0)
    assert long_id.startswith("sha256:")
    assert len(long_id) == 71


def _deep_xes(depth: int) -> str:
    nested = '<container key="c">' * depth + "</container>" * depth
    return (
        '<log><trace><string key="concept:name" value="T" /><event>'
        '<string key="concept:name" value="a" />'
        f'<date key="time:timestamp" value="2020-01-01T00:00:00Z" />{nested}'
        "</event></trace></log>"
    )


def test_absurd_nesting_is_one_clear_error_not_a_traceback(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(LogError) as caught:
        import_event_log(session, write(tmp_path, "deep.xes", _deep_xes(3000)), "p")
    assert caught.value.message == (
        "elements are nested deeper than 64 levels (in trace 1); this is not an event log"
    )


def test_a_long_trace_streams_its_events_before_the_trace_ends() -> None:
    """Memory stays flat: rows come out while the trace is still being read, and what has
    been read is dropped from the tree (a 224 KB .xes.gz used to peak at 390 MB)."""
    events = "".join(
        f'<event><string key="concept:name" value="a{i}" />'
        f'<date key="time:timestamp" value="2020-01-01T00:00:00Z" /></event>'
        for i in range(2500)
    )
    text = f'<log><trace><string key="concept:name" value="T" />{events}<broken'
    seen: list[Any] = []

    def read_all() -> None:
        seen.extend(row.fields["case:concept:name"] for row in read_xes(io.BytesIO(text.encode())))

    with pytest.raises(XMLSyntaxError):
        read_all()
    assert seen == ["T"] * (2 * MAX_PENDING_EVENTS)  # given out before the file broke


def test_a_trace_attribute_after_a_few_events_still_applies_to_them(
    session: Session, tmp_path: Path
) -> None:
    log = XES.replace('<int key="priority" value="2" />', "").replace(
        "</event>\n  </trace>", '</event>\n    <int key="priority" value="2" />\n  </trace>', 1
    )
    import_event_log(session, write(tmp_path, "late.xes", log), "p")
    first = stored(session)[0]
    assert first["attributes"]["case"]["priority"] == 2


def test_a_failing_batch_in_the_background_writer_stops_the_import(
    session: Session, tmp_path: Path
) -> None:
    lines = [f"c{i},step{i},2012-01-01T00:00:{i:02d}Z" for i in range(30)]
    path = write(
        tmp_path, "log.csv", "case:concept:name,concept:name,time:timestamp\n" + "\n".join(lines)
    )
    calls: list[int] = []

    def progress(_position: int, result: ImportResult) -> None:
        calls.append(result.stored)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        import_event_log(session, path, "p", batch_size=4, jobs=2, on_batch=progress)
    assert calls[:2] == [4, 8]
    assert len(calls) == 2  # nothing stored after the failed batch


def test_a_document_type_is_refused_before_any_event_is_stored(
    session: Session, tmp_path: Path
) -> None:
    log = XES.replace('<?xml version="1.0" encoding="utf-8" ?>', '<!DOCTYPE log [<!ENTITY x "y">]>')
    with pytest.raises(LogError, match="document type"):
        import_event_log(session, write(tmp_path, "dtd.xes", log), "p")
    assert stored(session) == []


def _as_api_object(row: Row, provider: str, fields: LogFields, case_id: str, n: int) -> Any:
    """The documented mapping written out plainly: the JSON object the ingest API would get."""
    values = dict(row.fields)
    activity = values.pop(fields.activity, None)
    timestamp = values.pop(fields.timestamp, None)
    values.pop(fields.case, None)
    case: dict[str, Any] = {"id": case_id}
    obj: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("case:") and key[5:] not in case:
            case[key[5:]] = value
        elif key in ("timestamp", "event", "case") or key.startswith(("event.", "case:")):
            obj[f"log:{key}"] = value
        else:
            obj[key] = value
    return {
        **obj,
        "case": case,
        "event.provider": provider,
        "event.type": activity,
        "event.id": event_id(case_id, n),
        "timestamp": timestamp,
    }


TRICKY_CSV = (
    "case:concept:name,case:id,case:,event,event.type,timestamp,case,concept:name,"
    "time:timestamp,deep\n"
    "k1,x,e,ev,et,ts,c,Open,2011-10-11T13:45:40Z,1\n"
    "k1,,,,,,,,2011-10-11T13:45:41Z,\n"
    "k2,,,,,,,Close,not a time,\n"
    "k2,,,,,,,7,2011-10-11T13:45:42Z,\n"
)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("helpdesk.xes.gz", LogFields()),
        ("receipt.csv.gz", LogFields()),
        ("tricky.csv", LogFields()),
        ("tricky.csv", LogFields(case="event", activity="case:id", timestamp="time:timestamp")),
        ("tricky.csv", LogFields(case="concept:name", activity="concept:name")),
        ("inline.xes", LogFields()),
    ],
)
def test_events_are_what_the_ingest_api_makes_of_the_mapped_object(
    name: str, fields: LogFields, tmp_path: Path
) -> None:
    """The importer builds events field by field; each must be exactly what the API's own
    validation makes of the JSON object the mapping describes, rejections included."""
    path = DATA / name
    if name == "tricky.csv":
        path = write(tmp_path, name, TRICKY_CSV)
    elif name == "inline.xes":
        path = write(tmp_path, name, XES)
    opened: IO[bytes] = path.open("rb")
    if name.endswith(".gz"):
        opened = gzip.GzipFile(fileobj=opened)
    kind = "xes" if ".xes" in name else "csv"
    limits = Limits(
        now=datetime.now(UTC),
        max_future=timedelta(minutes=10),
        max_depth=2 if kind == "csv" else 32,
        check_strings=kind == "csv",
    )
    seen: dict[str, int] = {}
    routes: dict[str, tuple[int, str]] = {}
    outcomes = set()
    with opened:
        for row in read_xes(opened) if kind == "xes" else read_csv(opened):
            case_id = str(row.fields.get(fields.case))
            n = seen[case_id] = seen.get(case_id, -1) + 1
            try:
                expected: Any = from_json_object(
                    _as_api_object(row, "p", fields, case_id, n), limits
                )
            except Invalid as exc:
                expected = (exc.field, exc.message)
            try:
                got: Any = _to_event(row, "p", fields, case_id, n, limits, routes)
            except Invalid as exc:
                got = (exc.field, exc.message)
            assert got == expected, row.where
            outcomes.add(type(got).__name__)
    assert outcomes == ({"NewEvent", "tuple"} if name == "tricky.csv" else {"NewEvent"})
