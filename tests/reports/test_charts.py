"""A report's charts: SVG fit to put in a page under its CSP (no script, no inline style but the
nonce'd one), with the numbers and words of the reader's language; each chart's CSV holds the
numbers it draws."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from service.reports.charts import (
    CHART_NAMES,
    ChartName,
    chart_csv,
    chart_has_data,
    chart_svg,
    chart_table,
    format_duration,
)
from service.reports.schema import (
    Count,
    DayPoint,
    Durations,
    FailedCount,
    HourCell,
    RepeatCaller,
    Report,
    Share,
)

SVG = "{http://www.w3.org/2000/svg}"
START = date(2026, 11, 1)


def make_report(**overrides: object) -> Report:
    """November 2026 at さくら歯科: 42 calls, 20 memos, 3 of them complaints."""
    values: dict[str, object] = {
        "company": "sakura-dental",
        "period": "month",
        "start": START,
        "end": date(2026, 12, 1),
        "timezone": "Asia/Tokyo",
        "calls": 42,
        "previous_calls": 30,
        "memos": 20,
        "previous_memos": 25,
        "by_category": [Count(key="complaint", count=3), Count(key="inquiry", count=17)],
        "by_urgency": [Count(key="urgent", count=2), Count(key="normal", count=18)],
        "complaint_share": Share(value=0.15, previous=0.2, change=-0.05),
        "time_to_acknowledge": Durations(count=18, median_seconds=754.0, p90_seconds=11520.0),
        "time_to_resolve": Durations(count=3, median_seconds=86400.0, p90_seconds=200000.0),
        "acknowledged_before_escalation": Share(value=0.8, previous=None, change=None),
        "failed_deliveries": [
            FailedCount(channel="sms", reason="undelivered", count=2),
            FailedCount(channel="email", reason="bounced", count=1),
        ],
        "busiest_hours": [
            HourCell(weekday=2, hour=14, calls=3),
            HourCell(weekday=0, hour=10, calls=5),
        ],
        "repeat_callers": [
            RepeatCaller(
                phone="+819011112222", display="090-1111-2222", calls=3, memos=2, flagged=True
            )
        ],
        "flagged_callers": [],
        "daily": [
            DayPoint(
                day=START + timedelta(days=i),
                calls=i % 5,
                memos=i % 3,
                complaints=1 if i in (4, 9, 20) else 0,
            )
            for i in range(30)
        ],
    }
    values.update(overrides)
    return Report.model_validate(values)


def empty_report() -> Report:
    return make_report(
        calls=0,
        memos=0,
        by_category=[],
        by_urgency=[],
        time_to_acknowledge=Durations(count=0, median_seconds=None, p90_seconds=None),
        time_to_resolve=Durations(count=0, median_seconds=None, p90_seconds=None),
        failed_deliveries=[],
        busiest_hours=[],
        daily=[
            DayPoint(day=START + timedelta(days=i), calls=0, memos=0, complaints=0)
            for i in range(30)
        ],
    )


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")] + [
        t.text or "" for t in root.iter(f"{SVG}desc")
    ]


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_chart_is_well_formed_svg_without_script_or_inline_style(name: ChartName) -> None:
    svg = chart_svg(report=make_report(), name=name, locale="ja", nonce="n0nce")

    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    assert not list(root.iter(f"{SVG}script"))
    assert all("style" not in element.attrib for element in root.iter())
    assert all(not key.startswith("on") for element in root.iter() for key in element.attrib)
    styles = list(root.iter(f"{SVG}style"))
    assert styles and all(style.get("nonce") == "n0nce" for style in styles)
    assert "<?xml" not in svg


@pytest.mark.parametrize("name", CHART_NAMES)
def test_an_empty_period_draws_every_chart_saying_there_is_no_data(name: ChartName) -> None:
    report = empty_report()

    root = ET.fromstring(chart_svg(report=report, name=name, locale="ja"))

    assert not chart_has_data(report=report, name=name)
    if name != "daily":  # a month of zero days is still a month of days
        assert "No data" in texts(ET.fromstring(chart_svg(report=report, name=name, locale="en")))
    assert root.get("aria-label")


def test_the_daily_chart_names_its_series_and_days_in_the_readers_language() -> None:
    ja = texts(ET.fromstring(chart_svg(report=make_report(), name="daily", locale="ja")))
    en = texts(ET.fromstring(chart_svg(report=make_report(), name="daily", locale="en")))

    assert "着信" in ja
    assert "11/1" in ja
    assert {"Calls", "Messages taken", "Complaints"} <= set(en)


def test_the_category_chart_shows_each_category_and_its_count() -> None:
    found = texts(ET.fromstring(chart_svg(report=make_report(), name="categories", locale="ja")))

    assert "苦情" in found and "お問い合わせ" in found
    assert "3" in found and "17" in found


def test_the_durations_chart_writes_median_and_p90_as_durations() -> None:
    found = texts(ET.fromstring(chart_svg(report=make_report(), name="durations", locale="en")))

    assert {"13 min", "3 h 12 min", "24 h", "2 d 7 h"} <= set(found)
    assert {"Median", "90th percentile", "Time to confirm", "Time to resolve"} <= set(found)


def test_the_busiest_hours_chart_has_a_row_per_weekday_and_the_counts() -> None:
    found = texts(ET.fromstring(chart_svg(report=make_report(), name="hours", locale="ja")))

    assert {"月", "火", "水", "木", "金", "土", "日"} <= set(found)
    assert "5" in found and "3" in found


def test_the_failures_chart_names_channels_and_reasons() -> None:
    found = texts(ET.fromstring(chart_svg(report=make_report(), name="failures", locale="en")))

    assert {"SMS", "E-mail", "undelivered", "bounced"} <= set(found)


def rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_each_charts_csv_holds_the_numbers_it_draws() -> None:
    report = make_report()

    daily = rows(chart_csv(report=report, name="daily", locale="en"))
    categories = rows(chart_csv(report=report, name="categories", locale="ja"))
    durations = rows(chart_csv(report=report, name="durations", locale="en"))
    hours = rows(chart_csv(report=report, name="hours", locale="en"))
    failures = rows(chart_csv(report=report, name="failures", locale="en"))

    assert daily[0] == ["Day", "Calls", "Messages taken", "Complaints"]
    assert len(daily) == 31
    assert daily[1] == ["2026-11-01", "0", "0", "0"]
    assert sum(int(r[3]) for r in daily[1:]) == 3
    assert [[p.day.isoformat(), str(p.calls), str(p.memos)] for p in report.daily] == [
        r[:3] for r in daily[1:]
    ]
    assert categories[0][0] == "区分"
    assert categories[1:] == [["苦情", "complaint", "3"], ["お問い合わせ", "inquiry", "17"]]
    assert durations[1:] == [
        ["Time to confirm", "18", "754.0", "11520.0"],
        ["Time to resolve", "3", "86400.0", "200000.0"],
    ]
    assert hours[1:] == [["Mon", "10", "5"], ["Wed", "14", "3"]]
    assert failures[1:] == [["SMS", "sms", "undelivered", "2"], ["E-mail", "email", "bounced", "1"]]


def test_a_csv_cell_that_reads_as_a_formula_is_defused() -> None:
    report = make_report(failed_deliveries=[FailedCount(channel="sms", reason="=1+1", count=1)])

    found = rows(chart_csv(report=report, name="failures", locale="en"))

    assert found[1][2] == "'=1+1"


def test_the_table_has_as_many_headings_as_each_row_has_cells() -> None:
    report = make_report()
    for name in CHART_NAMES:
        table = chart_table(report=report, name=name, locale="ja")
        assert all(len(row) == len(table.header) for row in table.rows), name


@pytest.mark.parametrize(
    ("seconds", "en"),
    [
        (None, ""),
        (42.4, "42 s"),
        (754, "13 min"),
        (11520, "3 h 12 min"),
        (200000, "2 d 7 h"),
        (7200, "2 h"),
        (172800, "2 d"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, en: str) -> None:
    assert format_duration(seconds, locale="en") == en
