"""The evaluation report stakeholders read: one self-contained HTML file (inline CSS, inline
SVG charts, a few lines of inline JS; nothing fetched from the network) and a Markdown summary.

Everything comes from blessing.json (decision, checks, candidate and baseline metrics, slices,
intervals, fairness) plus a data summary from the TFDV statistics and anomalies.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections import defaultdict

import tensorflow_data_validation as tfdv

from components.common.io import read_json
from contracts.artifacts import stats_path

FAIRNESS_PREFIX = "fairness_indicators_metrics/"
HEADLINE = [("example_count", "examples"), ("auc", "AUC"), ("auc_precision_recall", "AUC-PR"),
            ("binary_accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
            ("calibration", "calibration"), ("mean_label", "mean label"), ("mean_prediction", "mean prediction")]
CHART_RATES = ["false_negative_rate", "false_positive_rate"]
MAX_CHART_GROUPS = 40

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px;margin:12px 0}
.badge{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:600;color:#fff}
.BLESSED{background:#1a7f37}.NOT_BLESSED{background:#cf222e}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f3f6;cursor:pointer;user-select:none}td:first-child,th:first-child{text-align:left;white-space:normal}
tr.fail td{background:#ffebe9}tr.pass td:last-child{color:#1a7f37}tr.fail td:last-child{color:#cf222e;font-weight:600}
.muted{color:#656d76}.ci{color:#656d76;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px}
"""

# Click a header to sort its table; marks the page ready (the browser test waits for it).
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent, y = b.cells[col].dataset.v || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  });
});
document.body.dataset.ready = 'true';
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.{digits}f}" if isinstance(value, float) else _esc(value)


def _cell(value, interval=None) -> str:
    data = "" if value is None else f' data-v="{value}"'
    ci = (f'<br><span class="ci">[{_num(interval[0])}, {_num(interval[1])}]</span>'
          if interval and None not in interval else "")
    return f"<td{data}>{_num(value)}{ci}</td>"


def slice_feature(name: str) -> str:
    """'payment_type=Cash' -> 'payment_type'; 'a=1 x b=2' -> 'a x b'."""
    return " x ".join(part.split("=", 1)[0] for part in name.split(" x "))


def _group(name: str) -> str:
    return " x ".join(part.split("=", 1)[1] for part in name.split(" x "))


def fairness_thresholds(metrics: dict) -> list[str]:
    found = {m.rsplit("@", 1)[1] for m in metrics if m.startswith(FAIRNESS_PREFIX) and "@" in m}
    return sorted(found, key=float)


def data_summary(statistics_dir: str | None, anomalies_dir: str | None, splits: list[str]) -> dict:
    """Headline TFDV figures per split and the anomalies found."""
    summary: dict = {"splits": {}, "anomalies": []}
    if statistics_dir:
        for split in splits:
            path = stats_path(statistics_dir, split)
            if not os.path.exists(path) and "://" not in path:
                continue
            dataset = tfdv.load_stats_binary(path).datasets[0]
            missing = []
            for feature in dataset.features:
                common = (feature.num_stats.common_stats if feature.HasField("num_stats")
                          else feature.string_stats.common_stats)
                total = common.num_non_missing + common.num_missing
                if total and common.num_missing:
                    missing.append((feature.path.step[0], common.num_missing / total))
            summary["splits"][split] = {"examples": int(dataset.num_examples), "features": len(dataset.features),
                                        "most_missing": sorted(missing, key=lambda m: -m[1])[:5]}
    if anomalies_dir and os.path.exists(os.path.join(anomalies_dir, "anomalies.json")):
        summary["anomalies"] = read_json(os.path.join(anomalies_dir, "anomalies.json"))
    return summary


def _checks_table(b: dict) -> str:
    rows = []
    for c in b.get("checks", []):
        bounds = f"[{_num(c['lower_bound'])}, {_num(c['upper_bound'])}]"
        rows.append((c["passed"], f"value: {c['metric']}", _num(c["value"]), bounds))
    for c in b.get("change_checks", []):
        limit = f"change {'≥' if c['direction'] == 'higher_is_better' else '≤'} {_num(c['absolute'])}"
        rows.append((c["passed"], f"change vs baseline: {c['metric']}",
                     f"{_num(c['candidate'])} vs {_num(c['baseline'])} ({_num(c['change'])})", limit))
    gate = b.get("fairness_check")
    if gate:
        value = ("–" if gate.get("gap") is None else
                 f"gap {_num(gate['gap'])} ({_esc(gate['largest'])} vs {_esc(gate['smallest'])})")
        rows.append((gate["passed"], f"fairness gate: {gate['metric']} across {gate['feature']}", value,
                     f"gap ≤ {_num(gate['max_gap'])}, groups ≥ {gate['min_examples']} examples"))
    body = "".join(f'<tr class="{"pass" if ok else "fail"}"><td>{_esc(name)}</td><td>{value}</td><td>{limit}</td>'
                   f'<td>{"pass" if ok else "FAIL"}</td></tr>' for ok, name, value, limit in rows)
    return ('<table id="checks"><thead><tr><th>check</th><th>value</th><th>limit</th><th>result</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _overall_table(b: dict) -> str:
    base = b.get("baseline_metrics") or {}
    intervals = (b.get("intervals") or {}).get("Overall", {})
    head = "<th>metric</th><th>candidate</th>" + ("<th>baseline</th><th>change</th>" if base else "")
    rows = []
    for key, label in HEADLINE:
        cand = b["overall_metrics"].get(key)
        row = f"<tr><td>{label}</td>{_cell(cand, intervals.get(key))}"
        if base:
            old = base.get(key)
            diff = cand - old if isinstance(cand, float) and isinstance(old, float) else None
            row += f"{_cell(old)}{_cell(diff)}"
        rows.append(row + "</tr>")
    return f'<table id="overall"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _slice_tables(b: dict, threshold: str) -> str:
    by_feature: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, metrics in sorted(b.get("slice_metrics", {}).items()):
        by_feature[slice_feature(name)].append((name, metrics))
    intervals = b.get("intervals") or {}
    cols = [("example_count", "examples"), ("auc", "AUC"), ("binary_accuracy", "accuracy"),
            (f"{FAIRNESS_PREFIX}false_positive_rate@{threshold}", f"FPR@{threshold}"),
            (f"{FAIRNESS_PREFIX}false_negative_rate@{threshold}", f"FNR@{threshold}"),
            ("mean_label", "mean label"), ("mean_prediction", "mean prediction")]
    out = []
    for feature, rows in by_feature.items():
        slug = re.sub(r"[^a-z0-9]+", "-", feature.lower()).strip("-")
        head = "<th>slice</th>" + "".join(f"<th>{label}</th>" for _, label in cols)
        body = "".join(
            f"<tr><td>{_esc(_group(name))}</td>"
            + "".join(_cell(m.get(key), intervals.get(name, {}).get(key)) for key, _ in cols) + "</tr>"
            for name, m in rows)
        out.append(f'<h3>{_esc(feature)}</h3><table class="sortable slice-table" id="slices-{slug}">'
                   f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    suppressed = b.get("suppressed_slices") or []
    if suppressed:
        out.append(f'<p class="muted">{len(suppressed)} slice(s) below the minimum slice size are not shown: '
                   f"{_esc(', '.join(suppressed[:20]))}{' …' if len(suppressed) > 20 else ''}</p>")
    return "".join(out)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _bar_chart(title: str, groups: list[tuple[str, float]], gate_max: float | None = None) -> str:
    width, bar, gap, left = 560, 14, 4, 210
    height = 30 + len(groups) * (bar + gap)
    top = max([v for _, v in groups] + [1e-9])
    scale = (width - left - 60) / top
    bars = []
    for i, (label, value) in enumerate(groups):
        y = 24 + i * (bar + gap)
        bars.append(f'<text x="{left - 6}" y="{y + bar - 3}" text-anchor="end" font-size="11">{_esc(label)}</text>'
                    f'<rect x="{left}" y="{y}" width="{max(value * scale, 1):.1f}" height="{bar}" fill="#0969da"/>'
                    f'<text x="{left + value * scale + 4:.1f}" y="{y + bar - 3}" font-size="11">{value:.3f}</text>')
    note = f" (the gate: gap ≤ {gate_max} over groups it counts)" if gate_max is not None else ""
    return (f'<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<title>{_esc(title)}</title><text x="4" y="14" font-size="12" font-weight="600">{_esc(title + note)}</text>'
            f"{''.join(bars)}</svg></div>")


def _fairness_charts(b: dict) -> str:
    slices = b.get("slice_metrics", {})
    gate = b.get("fairness_check") or {}
    out = []
    for threshold in fairness_thresholds(b["overall_metrics"]):
        charts = []
        features = sorted({slice_feature(n) for n in slices if " x " not in n})
        for feature in features:
            for rate in CHART_RATES:
                key = f"{FAIRNESS_PREFIX}{rate}@{threshold}"
                groups = [(_group(n), m[key], m.get("example_count")) for n, m in slices.items()
                          if slice_feature(n) == feature and isinstance(m.get(key), float) and math.isfinite(m[key])]
                if not groups or len(groups) > MAX_CHART_GROUPS:
                    continue
                groups.sort(key=lambda g: (0, float(g[0]), "") if _is_number(g[0]) else (1, 0.0, g[0]))
                labelled = [(f"{g[:24]} (n={int(n)})" if n else g[:32], v) for g, v, n in groups]
                gated = gate.get("feature") == feature and gate.get("metric") == f"{rate}@{threshold}"
                charts.append(_bar_chart(f"{rate.replace('_', ' ')} @ {threshold} by {feature}", labelled,
                                         gate.get("max_gap") if gated else None))
        out.append(f'<h3>Decision threshold {threshold}</h3><div class="charts" id="fairness-{threshold}">'
                   f"{''.join(charts)}</div>")
    return "".join(out)


def _data_section(summary: dict | None) -> str:
    if not summary:
        return '<p class="muted">No data summary.</p>'
    rows = "".join(f"<tr><td>{_esc(s)}</td><td>{v['examples']:,}</td><td>{v['features']}</td>"
                   f"<td>{_esc(', '.join(f'{n} {p:.0%}' for n, p in v['most_missing']) or '–')}</td></tr>"
                   for s, v in summary.get("splits", {}).items())
    table = ('<table id="data"><thead><tr><th>split</th><th>examples</th><th>features</th>'
             f"<th>most missing</th></tr></thead><tbody>{rows}</tbody></table>")
    anomalies = summary.get("anomalies") or []
    if anomalies:
        items = "".join(f"<li>[{_esc(a['split'])}] <code>{_esc(a['feature'])}</code>: {_esc(', '.join(a['types']))}"
                        f" – {_esc(a['description'])}{'' if a['blocking'] else ' (warning)'}</li>" for a in anomalies)
        table += f"<h3>Anomalies</h3><ul id=\"anomalies\">{items}</ul>"
    else:
        table += '<p id="anomalies">No data anomalies against the schema.</p>'
    return table


def render_html(b: dict, run: dict, summary: dict | None = None) -> str:
    decision = b["decision"]
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in b.get("reasons", []))
    notes = "".join(f"<li>{_esc(n)}</li>" for n in b.get("notes", []))
    baseline = b.get("baseline")
    vs = (f"against baseline version {_esc(baseline['version'])}" if baseline
          else "first run: no blessed model in the registry, judged by value thresholds alone")
    thresholds = fairness_thresholds(b["overall_metrics"]) or ["0.5"]
    slice_threshold = "0.5" if "0.5" in thresholds else thresholds[0]
    facts = "".join(f"<span class=\"muted\">{_esc(k)}:</span> {_esc(v)} &nbsp; " for k, v in run.items() if v)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation: {_esc(run.get('model', ''))} {decision}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><main>
<h1>Evaluation of {_esc(run.get('model', 'the model'))}</h1>
<div class="muted">{facts}</div>
<div class="card"><span class="badge {decision}" id="decision">{decision}</span> &nbsp; <span id="baseline">{vs}</span>
{f'<h3>Why not blessed</h3><ul id="reasons">{reasons}</ul>' if reasons else ''}
{f'<ul class="muted">{notes}</ul>' if notes else ''}</div>
<h2>Checks</h2>{_checks_table(b)}
<h2>Overall metrics</h2>{_overall_table(b)}
<h2>Fairness</h2>{_fairness_charts(b)}
<h2>Slices (rates at decision threshold {slice_threshold})</h2>{_slice_tables(b, slice_threshold)}
<h2>Data</h2>{_data_section(summary)}
</main><script>{_SCRIPT}</script></body></html>
"""


def render_markdown(b: dict, run: dict) -> str:
    lines = [f"# Evaluation of {run.get('model', 'the model')}: **{b['decision']}**", ""]
    baseline = b.get("baseline")
    lines.append(f"Against baseline version {baseline['version']}." if baseline
                 else "First run: no blessed model in the registry; judged by value thresholds alone.")
    for reason in b.get("reasons", []):
        lines.append(f"- not blessed: {reason}")
    lines += ["", "| metric | candidate |" + (" baseline |" if baseline else ""),
              "|---|---|" + ("---|" if baseline else "")]
    for key, label in HEADLINE:
        row = f"| {label} | {_num(b['overall_metrics'].get(key))} |"
        if baseline:
            row += f" {_num((b.get('baseline_metrics') or {}).get(key))} |"
        lines.append(row)
    gate = b.get("fairness_check")
    if gate and gate.get("gap") is not None:
        lines += ["", f"Fairness gate: {gate['metric']} gap {_num(gate['gap'])} across {gate['feature']} "
                      f"({gate['largest']} vs {gate['smallest']}), max {gate['max_gap']}: "
                      f"{'pass' if gate['passed'] else 'FAIL'}."]
    return "\n".join(lines) + "\n"
