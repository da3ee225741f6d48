"""The report's charts of a feature: training against the window (and the previous window when
there is one), numeric as overlaid histograms, categorical as bars per value; the prediction
column of the window against the previous window's."""

from __future__ import annotations

from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.common.bar_chart import PALETTE, bar_chart, nice_max
from components.common.formatting import esc, fmt, slug
from components.common.histogram import histogram
from components.monitor import distributions as dist

Stats = statistics_pb2.DatasetFeatureStatisticsList
# One colour per side on every chart; the previous window drawn in outline on histograms.
COLOURS = {"training": PALETTE[0], "window": PALETTE[1], "previous window": PALETTE[2]}
PREVIOUS = "previous window"


@dataclass(frozen=True)
class Statistics:
    """The statistics the Monitor compared."""

    training: Stats  # of the served version
    window: Stats
    previous: Stats | None = None  # the previous window's, when drift was measured


def _sides(
    named: list[tuple[str, Stats | None]], feature: str
) -> list[tuple[str, statistics_pb2.FeatureNameStatistics]]:
    found = []
    for name, stats in named:
        f = dist.features(stats).get(feature)
        if f is not None and (f.HasField("num_stats") or f.HasField("string_stats")):
            found.append((name, f))
    return found


def _facts(sides, numeric: bool) -> str:
    """Rows, missing share and (numeric) mean of each side, for the caption."""
    parts = []
    for name, f in sides:
        missing = dist.missing_share(f)
        text = f"{name}: {fmt(dist.rows_with_value(f), 'count')} values"
        if missing:
            text += f", {fmt(missing, 'percent')} missing"
        if numeric:
            text += f", mean {fmt(f.num_stats.mean, 'unit')}"
        parts.append(text)
    return "; ".join(parts)


def _numeric_chart(chart_id: str, title: str, sides) -> str:
    try:
        found = dist.numeric([f for _, f in sides])
    except dist.NoQuantiles as err:  # statistics without quantiles: no chart, and the page says why
        return f'<div class="chart muted" id="{chart_id}">{esc(title)}: {esc(err)}</div>'
    if found is None:
        return ""
    outside = [
        f"{name}: {fmt(b, 'percent')} below, {fmt(a, 'percent')} above the range shown"
        for (name, _), b, a in zip(sides, found.below, found.above, strict=True)
        if b > 0.0005 or a > 0.0005
    ]
    note = _facts(sides, True) + (". " + "; ".join(outside) if outside else "")
    series = [(name, shares) for (name, _), shares in zip(sides, found.shares, strict=True)]
    names = [name for name, _ in sides]
    outlined = names.index(PREVIOUS) if PREVIOUS in names else len(names)
    axis = "value (share of each side's rows per bin)"
    return histogram(chart_id, title, found.edges, series, axis, note, tuple(COLOURS[n] for n in names), outlined)


def _categorical_chart(chart_id: str, title: str, sides) -> str:
    found = dist.categorical([f for _, f in sides])
    rows = [
        {"label": value[:28], "group": value, "values": [shares[i] for shares in found.shares]}
        for i, value in enumerate(found.values)
    ]
    if any(o > 0.0005 for o in found.other):
        rows.append({"label": "(other values)", "group": "(other values)", "values": found.other, "muted": True})
    top = max((v for r in rows for v in r["values"] if v == v), default=0.0)
    names = [name for name, _ in sides]
    axis, colours = "share of each side's values", tuple(COLOURS[n] for n in names)
    return bar_chart(
        chart_id, title, rows, nice_max(top), axis, "percent", names, note=_facts(sides, False), palette=colours
    )


def feature_chart(feature: str, stats: Statistics, title: str) -> str:
    """The feature in the training data, the window and the previous window (where each has it)."""
    named = [("training", stats.training), ("window", stats.window), (PREVIOUS, stats.previous)]
    sides = _sides(named, feature)
    if not sides:
        return ""
    sides = [s for s in sides if dist.is_numeric(s[1]) == dist.is_numeric(sides[0][1])]  # drift.py refuses a mix
    chart_id = f"chart-{slug(feature)}"
    if dist.is_numeric(sides[0][1]):
        return _numeric_chart(chart_id, title, sides)
    return _categorical_chart(chart_id, title, sides)


def prediction_chart(column: str, stats: Statistics) -> str:
    """The prediction column in the window and, where it was kept, the previous window."""
    sides = _sides([("window", stats.window), (PREVIOUS, stats.previous)], column)
    if not sides:
        return ""
    title = f"{column}: window" + (" against the previous window" if len(sides) > 1 else "")
    if dist.is_numeric(sides[0][1]):
        return _numeric_chart("chart-prediction", title, sides)
    return _categorical_chart("chart-prediction", title, sides)
