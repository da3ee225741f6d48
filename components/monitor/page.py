"""The monitoring report as one self-contained HTML page (inline CSS and SVG, nothing fetched),
in the evaluation report's style: the decision and why, the per-feature distances against
their thresholds, the distributions behind them (drifted features first), the predictions and
live quality."""

from __future__ import annotations

from components.common.bar_chart import bar_chart, nice_max
from components.common.formatting import cell, esc, finite, fmt
from components.monitor import report
from components.monitor.charts import Statistics, feature_chart, prediction_chart
from contracts.monitoring import PREDICTION

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px;margin:12px 0}
.card h2{display:inline-block;margin:0;padding:4px 12px;border:0;border-radius:14px;font-size:15px;color:#fff}
h2.retrain{background:#cf222e}h2.ok{background:#1a7f37}h2.too_small{background:#9a6700}
table{border-collapse:collapse;width:100%;background:#fff}table.compact{width:auto}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}th{background:#f0f3f6}
td:first-child,th:first-child{text-align:left;white-space:normal}
tr.drifted td{background:#ffebe9}tr.drifted td:last-child{color:#cf222e;font-weight:600}
tr.ok td:last-child{color:#1a7f37}tr.too_small td,tr.missing td{background:#fff8c5}
.muted{color:#656d76}ul.warn li{color:#9a6700}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px}
.chart.drifted{border-color:#cf222e;box-shadow:0 0 0 1px #cf222e}
"""

_HEAD = ["feature", "measure", "distance", "threshold", "configured", "× threshold", "rows (window / reference)"]


def _ratio(f: dict) -> str:
    r = report.ratio(f)
    return f'<td data-v="{r}">{r:.2f}</td>' if r is not None else "<td>–</td>"


def _feature_table(section_id: str, section: dict) -> str:
    rows = []
    for f in report.ordered(section["features"]):
        rows.append(
            f'<tr class="{esc(f["verdict"])}" data-feature="{esc(f["feature"])}"><td>{esc(f["feature"])}</td>'
            f"<td>{esc(f['measure'])}</td>{cell(f['distance'])}{cell(f['effective_threshold'])}"
            f"{cell(f['threshold'])}{_ratio(f)}"
            f"<td>{fmt(f['rows']['current'], 'count')} / {fmt(f['rows']['reference'], 'count')}</td>"
            f"<td>{esc(f['verdict'])}</td></tr>"
        )
    head = "".join(f"<th>{esc(h)}</th>" for h in [*_HEAD, "verdict"])
    return (
        f'<p class="muted">Decision: {esc(section["decision"])}. Threshold: the configured one, raised to the '
        f"noise floor of samples this size ({fmt(section['rows']['current'], 'count')} window rows against "
        f"{fmt(section['rows']['reference'], 'count')}); a distance above it is drift.</p>"
        f'<table id="{section_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _verdicts(full: dict, feature: str) -> tuple[str, bool]:
    """'skew 0.4123 > 0.0500 drifted · drift ...' for a chart's title; and whether any drifted."""
    parts, drifted = [], False
    for name in ("skew", "drift"):
        f = next((f for f in (full.get(name) or {}).get("features", []) if f["feature"] == feature), None)
        if f is None:
            continue
        if f["distance"] is None:
            parts.append(f"{name} {f['verdict']}")
            continue
        sign = ">" if f["verdict"] == "drifted" else "≤"
        parts.append(f"{name} {fmt(f['distance'])} {sign} {fmt(f['effective_threshold'])}")
        drifted |= f["verdict"] == "drifted"
    return " · ".join(parts), drifted


def _charts(full: dict, stats: Statistics) -> str:
    cards = []
    for feature in report.feature_order(full):
        verdicts, drifted = _verdicts(full, feature)
        chart = feature_chart(feature, stats, f"{feature}: {verdicts}")
        if drifted:
            chart = chart.replace('<div class="chart"', '<div class="chart drifted"', 1)
        cards.append(chart)
    return f'<div class="charts" id="distributions">{"".join(cards)}</div>'


def _quality(q: dict) -> str:
    kind = report.quality_kind(q)
    text = f'<p id="quality">{esc(report.quality_line(q))}</p>'
    if q.get("live") is None:
        return text
    rows = [{"label": "live", "group": "live", "values": [q["live"]]}]
    if finite(q.get("evaluated")):
        rows.append({"label": "evaluated", "group": "evaluated", "values": [q["evaluated"]]})
    top = max(r["values"][0] for r in rows)
    axis = 1.0 if kind == "metric" and top <= 1 else nice_max(max(top, q.get("limit") or 0))
    marks = [(q["limit"], f"limit {fmt(q['limit'], kind)}")] if finite(q.get("limit")) else None
    chart = bar_chart(
        "chart-quality", f"{q['metric']}: live against evaluated", rows, axis, q["metric"], kind, marks=marks
    )
    others = "".join(
        f"<tr><td>{esc(name)}</td><td>{fmt(value, kind)}</td></tr>"
        for name, value in sorted((q.get("all") or {}).items())
    )
    table = (
        f'<table class="compact" id="live-metrics"><tr><th>metric</th><th>live</th></tr>{others}</table>'
        if others
        else ""
    )
    return f'{text}<div class="charts">{chart}</div>{table}'


def _headline(full: dict) -> str:
    parts = []
    for name, title in (("skew", "skew"), ("drift", "drift")):
        section = full.get(name)
        if not section:
            continue
        drifted = sum(f["verdict"] == "drifted" for f in section["features"])
        w = report.worst(section)
        text = f"{title}: {drifted} of {len(section['features'])} features drifted"
        if w:
            text += f" (worst: {w['feature']} {fmt(w['distance'])} vs {fmt(w['effective_threshold'])})"
        parts.append(text)
    parts.append(f"live quality: {report.quality_line(full['quality'])}")
    return "; ".join(parts) + "."


def html_page(full: dict, stats: Statistics | None = None, model: str = "") -> str:
    """The page for the executor's full record; `stats` (what was compared) draws the charts."""
    w, decision = full["window"], full["decision"]
    reasons = "".join(f"<li>{esc(r)}</li>" for r in full["reasons"])
    notes = "".join(f"<li>{esc(n)}</li>" for n in full["notes"])
    warnings = "".join(f"<li>{esc(n)}</li>" for n in full.get("warnings") or [])
    titles = report.titles(full)
    sections = []
    for name in ("skew", "drift"):
        section = full.get(name)
        body = _feature_table(name, section) if section else "<p>Not measured (see the notes).</p>"
        sections.append(f"<h2>{esc(titles[name])}</h2>{body}")
    if stats is not None:
        sections.append(
            "<h2>Distributions: training, window and previous window</h2>"
            '<p class="muted">Drifted features first (red border). Numeric features: the share of each side\'s '
            "rows per bin, from the statistics' quantiles; categorical: the shares of the most frequent values.</p>"
            + _charts(full, stats)
        )
    prediction = full.get("prediction_drift")
    sections.append(f"<h2>{esc(titles['prediction_drift'])}</h2>")
    if stats is not None:
        sections.append(f'<div class="charts">{prediction_chart(PREDICTION, stats)}</div>')
    sections.append(
        _feature_table("prediction_drift", prediction) if prediction else "<p>Not compared (see the notes).</p>"
    )
    sections.append(f"<h2>Live quality</h2>{_quality(full['quality'])}")
    rejected = w.get("rejected")
    facts = report.window_line(full) + (f" Rejected requests: {fmt(rejected, 'count')}." if rejected else "")
    previous = f" Previous window: {full['previous_window']}." if full.get("previous_window") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring: {esc(model)} {esc(decision)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body data-decision="{esc(decision)}"><main>
<h1>Monitoring{f" of {esc(model)}" if model else ""}</h1>
<div class="muted" id="facts">{esc(facts)}{esc(previous)}</div>
<div class="card"><div id="decision"><h2 class={esc(decision)}>Decision: {esc(decision)}</h2></div>
<p id="headline">{esc(_headline(full))}</p>
{f'<h3>Why</h3><ul id="reasons">{reasons}</ul>' if reasons else ""}
{f'<ul class="muted" id="notes">{notes}</ul>' if notes else ""}
{f'<ul class="warn" id="warnings">{warnings}</ul>' if warnings else ""}</div>
{"".join(sections)}
</main></body></html>
"""
