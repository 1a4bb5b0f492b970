"""A report's figures as charts a person reads at a glance, and each chart's numbers as CSV.

Charts are SVG drawn on the server by pygal, without its scripts, ready to be put inside a
page: its one `<style>` carries the page's CSP nonce and nothing else is styled inline. Words
are in the reader's language; a chart's CSV holds exactly the numbers it draws.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pygal
from babel.dates import format_skeleton, get_day_names
from pygal.style import Style

from service.i18n import N_, supported, translate
from service.messages.context import CATEGORY_LABELS, URGENCY_LABELS
from service.reports.schema import Report

ChartName = Literal["daily", "categories", "durations", "hours", "failures"]
CHART_NAMES: tuple[ChartName, ...] = get_args(ChartName)

SVG_NS = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")

TITLES: dict[ChartName, str] = {
    "daily": N_("Calls and messages by day"),
    "categories": N_("Messages by category"),
    "durations": N_("Time to confirm and to resolve"),
    "hours": N_("Busiest hours"),
    "failures": N_("Failed deliveries by channel"),
}

# A delivery's channel in words; a channel without words is shown as it is.
CHANNEL_WORDS = {
    "email": N_("E-mail"),
    "sms": N_("SMS"),
    "voice": N_("Phone call"),
    "slack": N_("Slack"),
    "chatwork": N_("Chatwork"),
    "lineworks": N_("LINE WORKS"),
    "line": N_("LINE"),
    "teams": N_("Microsoft Teams"),
    "webhook": N_("Webhook"),
}

# Drawn in the site's colours; the page's own stylesheet gives the words its text colour, so
# that a chart reads in the dark scheme too.
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#5f6b7a",
    foreground_strong="#5f6b7a",
    foreground_subtle="#dde2e8",
    opacity=".9",
    opacity_hover="1",
    transition="0ms",
    colors=("#2f6f73", "#d08c3f", "#a23b2e", "#6b7fb3", "#7a9a4a", "#9a6b9e", "#5f6b7a"),
    font_family=(
        'system-ui, -apple-system, "Hiragino Sans", "Hiragino Kaku Gothic ProN", '
        '"Noto Sans JP", "Yu Gothic UI", Meiryo, sans-serif'
    ),
    label_font_size=13,
    major_label_font_size=13,
    value_font_size=13,
    value_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    no_data_font_size=20,
    tooltip_font_size=13,
)


def format_duration(seconds: float | None, *, locale: str) -> str:
    """`seconds` as a person says a duration (3時間12分, 3 h 12 min); empty for None."""
    if seconds is None:
        return ""
    whole = max(round(seconds), 0)
    if whole < 60:
        return translate(locale, N_("%(seconds)d s")) % {"seconds": whole}
    minutes = round(whole / 60)
    if minutes < 60:
        return translate(locale, N_("%(minutes)d min")) % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if not minutes:
            return translate(locale, N_("%(hours)d h")) % {"hours": hours}
        return translate(locale, N_("%(hours)d h %(minutes)d min")) % {
            "hours": hours,
            "minutes": minutes,
        }
    days, hours = divmod(hours, 24)
    if not hours:
        return translate(locale, N_("%(days)d d")) % {"days": days}
    return translate(locale, N_("%(days)d d %(hours)d h")) % {"days": days, "hours": hours}


def category_label(key: str, *, locale: str) -> str:
    """A memo category in words; an unknown one as it is."""
    message = CATEGORY_LABELS.get(key)
    return translate(locale, message) if message else key


def urgency_label(key: str, *, locale: str) -> str:
    """A memo urgency in words; an unknown one as it is."""
    message = URGENCY_LABELS.get(key)
    return translate(locale, message) if message else key


def channel_label(key: str, *, locale: str) -> str:
    """A delivery channel in words; an unknown one as it is."""
    message = CHANNEL_WORDS.get(key)
    return translate(locale, message) if message else key


def weekday_names(*, locale: str) -> list[str]:
    """The short names of the days of the week, Monday first."""
    names = get_day_names("abbreviated", locale=supported(locale))
    return [names[day] for day in range(7)]


@dataclass(frozen=True)
class Table:
    """A chart's numbers: a header row of words and one row per point."""

    header: list[str]
    rows: list[list[str | int | float]]


def _seconds(value: float | None) -> str | float:
    return "" if value is None else round(value, 1)


def chart_table(*, report: Report, name: ChartName, locale: str) -> Table:
    """The numbers chart `name` draws of `report`, with its column headings in `locale`."""

    def words(message: str) -> str:
        return translate(locale, message)

    if name == "daily":
        return Table(
            header=[words(N_("Day")), words(N_("Calls")), words(N_("Messages taken")),
                    words(N_("Complaints"))],
            rows=[[p.day.isoformat(), p.calls, p.memos, p.complaints] for p in report.daily],
        )  # fmt: skip
    if name == "categories":
        return Table(
            header=[words(N_("Category")), words(N_("Key")), words(N_("Messages taken"))],
            rows=[
                [category_label(c.key, locale=locale), c.key, c.count] for c in report.by_category
            ],
        )
    if name == "durations":
        measures = [
            (N_("Time to confirm"), report.time_to_acknowledge),
            (N_("Time to resolve"), report.time_to_resolve),
        ]
        return Table(
            header=[words(N_("Measure")), words(N_("Messages taken")),
                    words(N_("Median (seconds)")), words(N_("90th percentile (seconds)"))],
            rows=[
                [words(label), d.count, _seconds(d.median_seconds), _seconds(d.p90_seconds)]
                for label, d in measures
            ],
        )  # fmt: skip
    if name == "hours":
        days = weekday_names(locale=locale)
        return Table(
            header=[words(N_("Day of the week")), words(N_("Hour")), words(N_("Calls"))],
            rows=[
                [days[c.weekday], c.hour, c.calls]
                for c in sorted(report.busiest_hours, key=lambda c: (c.weekday, c.hour))
            ],
        )
    return Table(
        header=[words(N_("Channel")), words(N_("Key")), words(N_("Reason")),
                words(N_("Failed deliveries"))],
        rows=[
            [channel_label(f.channel, locale=locale), f.channel, f.reason, f.count]
            for f in report.failed_deliveries
        ],
    )  # fmt: skip


# A spreadsheet would run a cell that starts like a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | int | float) -> str | int | float:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def chart_csv(*, report: Report, name: ChartName, locale: str) -> bytes:
    """Chart `name`'s numbers as CSV, UTF-8 with a BOM as spreadsheets in Japan expect."""
    table = chart_table(report=report, name=name, locale=locale)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _config(locale: str, **options: Any) -> dict[str, Any]:
    return {
        "style": _STYLE,
        "js": [],  # no scripts: the chart is part of a page under its CSP
        "disable_xml_declaration": True,
        "explicit_size": False,
        # Drawn at about a phone's width, so that its words stay readable there.
        "width": 420,
        "height": 300,
        "margin": 8,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 3,
        "truncate_legend": -1,
        "truncate_label": -1,
        "no_data_text": translate(locale, N_("No data")),
        "print_zeroes": False,
        **options,
    }


def _day_label(report: Report, locale: str) -> Callable[[int], str]:
    def label(index: int) -> str:
        day = report.daily[index].day
        return format_skeleton("Md", day, locale=supported(locale))

    return label


def _count_axis(*series: Sequence[int | None]) -> list[int]:
    """Whole numbers from 0 to the largest count, five or so of them: nobody calls 0.5 times."""
    largest = max((value or 0 for values in series for value in values), default=0)
    step = max(1, math.ceil(largest / 5))
    return list(range(0, largest + step, step)) if largest else [0, 1]


# Round steps for a duration axis, in seconds: a minute up to a week.
_DURATION_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def _duration_axis(seconds: Sequence[float | None]) -> list[float]:
    """Round durations (in minutes, as the chart draws them) from 0 past the longest."""
    longest = max((value or 0 for value in seconds), default=0)
    step = next((s for s in _DURATION_STEPS if longest / s <= 5), _DURATION_STEPS[-1])
    return [i * step / 60 for i in range(math.ceil(longest / step) + 1)] if longest else [0, 1]


def _room_for(labels: Sequence[str], font_size: int = 13) -> int:
    """Extra room at the left for `labels`: pygal reckons every character half as wide as a
    Japanese one is."""
    wide = max((sum(ord(ch) >= 0x2E80 for ch in label) for label in labels), default=0)
    return round(wide * font_size * 0.5)


def _pygal_chart(report: Report, name: ChartName, locale: str) -> Any:
    """The pygal chart of `name`, its series added."""

    def words(message: str) -> str:
        return translate(locale, message)

    if not chart_has_data(report=report, name=name):
        # A chart of zeroes still draws its axes; pygal says there is nothing to draw instead.
        return pygal.Bar(
            **_config(
                locale,
                show_legend=False,
                show_x_labels=False,
                show_y_labels=False,
                show_y_guides=False,
                height=120,
            )
        )
    if name == "daily":
        label = _day_label(report, locale)
        chart = pygal.Bar(
            **_config(
                locale,
                show_minor_x_labels=len(report.daily) <= 7,
                x_labels_major_every=7 if len(report.daily) > 7 else None,
                print_values=len(report.daily) <= 7,
            )
        )
        chart.x_labels = [label(i) for i in range(len(report.daily))]
        series = {
            N_("Calls"): [p.calls for p in report.daily],
            N_("Messages taken"): [p.memos for p in report.daily],
            N_("Complaints"): [p.complaints for p in report.daily],
        }
        chart.y_labels = _count_axis(*series.values())
        for title, values in series.items():
            chart.add(words(title), values)
        return chart
    if name == "categories":
        labels = [category_label(c.key, locale=locale) for c in report.by_category]
        chart = pygal.HorizontalBar(
            **_config(
                locale, show_legend=False, print_values=True, margin_left=8 + _room_for(labels)
            )
        )
        chart.x_labels = labels
        by_category = [c.count for c in report.by_category]
        chart.y_labels = _count_axis(by_category)
        chart.add(words(N_("Messages taken")), by_category)
        return chart
    if name == "durations":
        measures = (report.time_to_acknowledge, report.time_to_resolve)
        axis = _duration_axis([d.p90_seconds for d in measures])

        def written(minutes: float) -> str:
            return format_duration(minutes * 60, locale=locale)

        # Minutes on the axis; every figure written as a duration.
        chart = pygal.Bar(
            **_config(
                locale,
                print_values=True,
                value_formatter=written,
                margin_left=8 + _room_for([written(tick) for tick in axis]),
            )
        )
        chart.y_labels = axis
        chart.x_labels = [words(N_("Time to confirm")), words(N_("Time to resolve"))]
        chart.add(
            words(N_("Median")),
            [None if d.median_seconds is None else d.median_seconds / 60 for d in measures],
        )
        chart.add(
            words(N_("90th percentile")),
            [None if d.p90_seconds is None else d.p90_seconds / 60 for d in measures],
        )
        return chart
    if name == "hours":
        days = weekday_names(locale=locale)
        grid = [[0] * 24 for _ in range(7)]
        for cell in report.busiest_hours:
            grid[cell.weekday][cell.hour] = cell.calls
        chart = pygal.Dot(
            **_config(
                locale,
                show_legend=False,
                x_labels_major_every=3,
                show_minor_x_labels=False,
                height=300,
            )
        )
        chart.x_labels = [str(hour) for hour in range(24)]
        for day in range(7):
            chart.add(days[day], grid[day])
        return chart
    channels = sorted({f.channel for f in report.failed_deliveries})
    reasons = sorted({f.reason for f in report.failed_deliveries})
    counts = {(f.channel, f.reason): f.count for f in report.failed_deliveries}
    chart = pygal.StackedBar(**_config(locale, print_values=False))
    chart.x_labels = [channel_label(channel, locale=locale) for channel in channels]
    totals = [sum(counts.get((channel, reason), 0) for reason in reasons) for channel in channels]
    chart.y_labels = _count_axis(totals)
    for reason in reasons:
        chart.add(reason, [counts.get((channel, reason)) for channel in channels])
    return chart


def chart_svg(*, report: Report, name: ChartName, locale: str, nonce: str = "") -> str:
    """Chart `name` of `report` as an SVG element to put in a page whose CSP nonce is `nonce`."""
    chart = _pygal_chart(report, name, locale)
    # pygal leaves a legend of fewer series than columns below the chart's bottom edge.
    chart.legend_at_bottom_columns = max(1, min(3, len(chart.raw_series)))
    root = ET.fromstring(chart.render(is_unicode=True))  # noqa: S314 - pygal's own output
    title = translate(locale, TITLES[name])
    root.set("role", "img")
    root.set("aria-label", title)
    root.set("class", f"pygal-chart chart-{name}")
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in list(root.iter()):
        if element.tag == f"{{{SVG_NS}}}style":
            element.set("nonce", nonce)
        # pygal's script (its configuration is written even without it) and the tooltips it
        # would show: a page runs no script of a chart's.
        if (
            element.tag == f"{{{SVG_NS}}}script"
            or "tooltip-overlay" in element.get("class", "").split()
        ):
            parents[element].remove(element)
        element.attrib.pop("style", None)
    return ET.tostring(root, encoding="unicode")


def chart_has_data(*, report: Report, name: ChartName) -> bool:
    """Whether chart `name` has anything to draw (else the page says so in words)."""
    if name == "daily":
        return any(p.calls or p.memos or p.complaints for p in report.daily)
    if name == "categories":
        return any(c.count for c in report.by_category)
    if name == "durations":
        return bool(report.time_to_acknowledge.count or report.time_to_resolve.count)
    if name == "hours":
        return bool(report.busiest_hours)
    return bool(report.failed_deliveries)
