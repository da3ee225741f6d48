"""The evaluation report stakeholders read: one self-contained HTML file (inline CSS, inline
SVG charts, a few lines of inline JS; nothing fetched from the network) and a Markdown summary
(the KFP Markdown artifact), for every task: binary, multiclass and regression.

Everything comes from blessing.json (decision, checks, candidate and baseline metrics, slices,
intervals, fairness gate, confusion matrix, what the run read) plus a data summary from the
TFDV statistics and the ExampleValidator's anomalies. Metric names and titles come from
contracts/metrics.py; nothing here knows a dataset.

One number format everywhere (`fmt`): counts with thousands separators (2,986), rates and
unitless metrics with four decimals (0.0150), values in the label's units (regression errors,
mean label) with four significant digits (2.393, 23.71, 12,345), changes signed (+0.0012).
Rates are drawn on one 0-1 axis; regression errors on an axis from 0 labelled with the label's
units.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections import defaultdict

import tensorflow as tf

from components.common.io import read_json
from contracts.artifacts import ANOMALIES_JSON, stats_path
from contracts.metrics import FAIRNESS_PREFIX, GAP_METRICS, METRICS, MetricDef, per_class_key

DASH = "–"
MAX_CHART_GROUPS = 40
CHART_RATES = ("false_negative_rate", "false_positive_rate")
# Regression metrics in the label's units (MSE in squared units); the rest are unitless.
UNIT_METRICS = (*GAP_METRICS, "mean_label", "mean_prediction")
# The project's own non-blocking data checks, as the ExampleValidator names them.
DATA_CHECKS = {
    "SCHEMA_NEW_COLUMN": "a column the schema does not know",
    "DISTINCT_VALUES_GROWTH": "many more distinct values than the baseline model's training data",
}
TASK_TITLES = {"binary": "binary classification", "multiclass": "multiclass classification", "regression": "regression"}
_PALETTE = ("#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#1b7c83", "#9a6700", "#e85aad")

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px;margin:12px 0}
.badge{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:600;color:#fff}
.BLESSED{background:#1a7f37}.NOT_BLESSED{background:#cf222e}
.status{display:inline-block;min-width:92px;font-weight:600}.s-pass{color:#1a7f37}.s-fail{color:#cf222e}
.s-skip{color:#656d76}
table{border-collapse:collapse;width:100%;background:#fff}.wide{overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f3f6}table.sortable th{cursor:pointer;user-select:none}
td:first-child,th:first-child{text-align:left;white-space:normal}
tr.fail td{background:#ffebe9}tr.pass td:last-child{color:#1a7f37}tr.fail td:last-child{color:#cf222e;font-weight:600}
tr.skip td{color:#656d76}#checks td{white-space:normal}tr.agg td{font-weight:600;background:#f6f8fa}
td.cm{text-align:center;min-width:64px}td.diag{outline:2px solid #1a7f37;outline-offset:-2px}
.muted{color:#656d76}.ci{color:#656d76;font-size:12px}ul.warn li{color:#9a6700}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dl.facts dt{color:#656d76}
dl.facts dd{margin:0;word-break:break-all}
"""

# Click a header to sort its table; marks the page ready (the browser test waits for it).
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent;
        var y = b.cells[col].dataset.v || b.cells[col].textContent;
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


# --------------------------------------------------------------------------- number format


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value, kind: str = "metric", signed: bool = False) -> str:
    """The report's one number format (HTML and Markdown alike).

    kind: "count" (2,986), "metric" (rates, AUC, r², calibration: 0.9380), "unit" (a value in
    the label's units: four significant digits, 2.393 / 23.71 / 12,345), "percent" (42.1%).
    signed: a change, with its sign (+0.0012, -0.0100). None, NaN and inf print as a dash."""
    if not _finite(value):
        return DASH
    sign = "+" if signed and value > 0 else ""
    if kind == "count":
        return f"{sign}{round(value):,}"
    if kind == "percent":
        return f"{sign}{value:.1%}"
    if kind == "unit":
        if value == 0:
            return "0"
        digits = min(8, max(0, 3 - math.floor(math.log10(abs(value)))))
        return f"{sign}{value:,.{digits}f}"
    return f"{sign}{value:.4f}"


# --------------------------------------------------------------------------- metric names


def task_of(b: dict) -> str:
    return b.get("task") or (b.get("label") or {}).get("task") or "binary"


def label_unit(b: dict) -> str:
    """The label's units, as the report names them (the label's own name unless one is given)."""
    label = b.get("label") or {}
    return label.get("unit") or label.get("name") or "label units"


def metric_kind(task: str, reported: str) -> str:
    base = reported.split("[", 1)[0]
    if base == "example_count":
        return "count"
    if task == "regression" and base in UNIT_METRICS:
        return "unit"
    return "metric"


def _defs(task: str) -> dict[str, MetricDef]:
    return {m.reported: m for m in METRICS.get(task, METRICS["binary"])}


def _by_config_name(task: str) -> dict[str, MetricDef]:
    return {m.name: m for m in METRICS.get(task, METRICS["binary"])}


_FAIRNESS_KEY = re.compile(r"^(?:" + re.escape(FAIRNESS_PREFIX) + r")?([a-z_]+)@([0-9.]+)(?:\[(.*)\])?$")


def parse_rate(key: str) -> tuple[str, str, str] | None:
    """'fairness_indicators_metrics/false_negative_rate@0.5[Adelie]' -> (rate, '0.5', 'Adelie')."""
    m = _FAIRNESS_KEY.match(key)
    return (m.group(1), m.group(2), m.group(3) or "") if m else None


def rate_title(rate: str) -> str:
    return rate.replace("_", " ")


def metric_title(task: str, reported: str, unit: str = "") -> str:
    """How the report titles a reported metric: 'AUC', 'recall (Gentoo)', 'MAE (mpg)',
    'false negative rate @ 0.5 (Adelie)'."""
    parsed = parse_rate(reported)
    if parsed:
        rate, threshold, cls = parsed
        return f"{rate_title(rate)} @ {threshold}" + (f" ({cls})" if cls else "")
    base, _, cls = reported.partition("[")
    d = _defs(task).get(base)
    title = d.label if d else base.replace("_", " ")
    if cls:
        return f"{title} ({cls.rstrip(']')})"
    if unit and metric_kind(task, base) == "unit":
        return f"{title} ({unit}²)" if base == "mean_squared_error" else f"{title} ({unit})"
    return title


def _config_metric(task: str, name: str) -> tuple[str, str]:
    """A config metric name ('AUC', 'MeanAbsoluteError') -> (its title, its number kind)."""
    d = _by_config_name(task).get(name)
    if d is None:
        return name, "metric"
    return d.label, metric_kind(task, d.reported)


def slice_feature(name: str) -> str:
    """'payment_type=Cash' -> 'payment_type'; 'a=1 x b=2' -> 'a x b'."""
    return " x ".join(part.split("=", 1)[0] for part in name.split(" x "))


def _group(name: str) -> str:
    return " x ".join(part.split("=", 1)[1] if "=" in part else part for part in name.split(" x "))


def fairness_thresholds(metrics: dict) -> list[str]:
    """The decision thresholds Fairness Indicators reported at, as it prints them ('0.5')."""
    found = {p[1] for p in map(parse_rate, (m for m in metrics if m.startswith(FAIRNESS_PREFIX))) if p}
    return sorted(found, key=float)


def _group_order(group: str):
    try:
        return (0, float(group), "")
    except ValueError:
        return (1, 0.0, group)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _esc(value) -> str:
    return html.escape(str(value))


# --------------------------------------------------------------------------- data summary


def data_summary(statistics_dir: str | None, anomalies_dir: str | None, splits: list[str]) -> dict:
    """Headline TFDV figures per split and the ExampleValidator's anomalies (blocking or not)."""
    summary: dict = {"splits": {}, "anomalies": []}
    if statistics_dir:
        import tensorflow_data_validation as tfdv  # only here: rendering needs no TFDV

        for split in splits:
            path = stats_path(statistics_dir, split)
            if not tf.io.gfile.exists(path):
                continue
            dataset = tfdv.load_stats_binary(path).datasets[0]
            missing = []
            for feature in dataset.features:
                common = (
                    feature.num_stats.common_stats
                    if feature.HasField("num_stats")
                    else feature.string_stats.common_stats
                )
                total = common.num_non_missing + common.num_missing
                if total and common.num_missing:
                    missing.append((feature.path.step[0], common.num_missing / total))
            summary["splits"][split] = {
                "examples": int(dataset.num_examples),
                "features": len(dataset.features),
                "most_missing": sorted(missing, key=lambda m: -m[1])[:5],
            }
    if anomalies_dir and tf.io.gfile.exists(os.path.join(anomalies_dir, ANOMALIES_JSON)):
        summary["anomalies"] = read_json(os.path.join(anomalies_dir, ANOMALIES_JSON))
    return summary


# --------------------------------------------------------------------------- the checks applied


def _bounds_text(lower, upper, kind: str, unit: str = "") -> str:
    suffix = f" {unit}" if kind == "unit" and unit else ""
    if lower is not None and upper is not None:
        return f"in [{fmt(lower, kind)}, {fmt(upper, kind)}]{suffix}"
    return (f"≥ {fmt(lower, kind)}" if lower is not None else f"≤ {fmt(upper, kind)}") + suffix


def _change_limit(c: dict, kind: str, unit: str = "") -> str:
    suffix = f" {unit}" if kind == "unit" and unit else ""
    sign = "≥" if c["direction"] == "higher_is_better" else "≤"
    return f"change {sign} {fmt(c['absolute'], kind, signed=True)}{suffix}"


def _baseline_note(b: dict) -> str:
    """Why change thresholds were not applied (the Evaluator's note), or the first-run default."""
    for note in b.get("notes") or []:
        if "change thresholds not applied" in note:
            return note.replace("; change thresholds not applied", "").replace(", change thresholds not applied", "")
    return "first run: no blessed model in the registry, so there is no baseline"


def _gate_measured(gate: dict) -> bool:
    return bool(gate.get("measured", True)) and gate.get("gap") is not None


def gate_rule(gate: dict, task: str, unit: str = "") -> str:
    """The gate as configured: 'false negative rate @ 0.5 gap across sex ≤ 0.2000, groups with ≥ 15 examples'."""
    kind = metric_kind(task, gate["metric"])
    suffix = f" {unit}" if kind == "unit" and unit else ""
    return (
        f"{metric_title(task, gate['metric'])} gap across {gate['feature']} ≤ {fmt(gate['max_gap'], kind)}{suffix}, "
        f"over groups with ≥ {fmt(gate['min_examples'], 'count')} examples"
    )


def gate_detail(gate: dict, task: str, unit: str = "") -> str:
    """One plain sentence on what the fairness gate measured, or that it had nothing to measure."""
    metric = metric_title(task, gate["metric"])
    kind = metric_kind(task, gate["metric"])
    groups = gate.get("groups") or []
    counted = sum(1 for g in groups if g.get("counted"))
    suffix = f" {unit}" if kind == "unit" and unit else ""
    if _gate_measured(gate):
        if gate["gap"] == 0:
            value = next((g.get("value") for g in groups if g["group"] == gate.get("largest")), None)
            between = f"— all {counted} counted groups have {metric} {fmt(value, kind)}{suffix}"
        else:
            between = f"between {gate['feature']}={gate['largest']} and {gate['feature']}={gate['smallest']}"
        return (
            f"gap {fmt(gate['gap'], kind)}{suffix} {between} (max {fmt(gate['max_gap'], kind)}{suffix}; {counted} of "
            f"{len(groups)} groups have ≥ {fmt(gate['min_examples'], 'count')} examples and a value)"
        )
    if not groups:
        text = f"nothing to measure: no {gate['feature']} groups in the eval data"
    else:
        text = (
            f"nothing to measure: {counted} of {len(groups)} {gate['feature']} groups "
            f"{'has' if counted == 1 else 'have'} ≥ {fmt(gate['min_examples'], 'count')} examples and a "
            f"defined {metric}; two are needed"
        )
    if gate.get("passed"):
        return text + "; passed by fairness_gate.when_unmeasurable: pass"
    return text + "; not passed, so the blessing is withheld"


def applied_checks(b: dict) -> list[dict]:
    """Every kind of check and what became of it: {id, name, rule, detail, status}; status is
    'pass', 'FAIL', 'not passed' (a gate with nothing to measure), 'not applied' or 'not configured'."""
    task, unit = task_of(b), label_unit(b)
    out = []
    checks = b.get("checks") or []
    if checks:
        rules, parts = [], []
        for c in checks:
            title, kind = _config_metric(task, c["metric"])
            rules.append(f"{title} {_bounds_text(c['lower_bound'], c['upper_bound'], kind, unit)}")
            parts.append(f"{title} {fmt(c['value'], kind)}, {'pass' if c['passed'] else 'FAIL'}")
        status = "pass" if all(c["passed"] for c in checks) else "FAIL"
        out.append(
            {
                "id": "value",
                "name": "value thresholds",
                "rule": " and ".join(rules),
                "detail": "; ".join(parts),
                "status": status,
            }
        )
    else:
        out.append(
            {
                "id": "value",
                "name": "value thresholds",
                "rule": "",
                "detail": "none configured",
                "status": "not configured",
            }
        )
    baseline = b.get("baseline")
    changes = b.get("change_checks") or []
    if baseline:
        name = f"change thresholds vs baseline version {baseline['version']}"
        rules, parts = [], []
        for c in changes:
            title, kind = _config_metric(task, c["metric"])
            rules.append(f"{title} {_change_limit(c, kind, unit)}")
            parts.append(
                f"{title} {fmt(c['candidate'], kind)} vs {fmt(c['baseline'], kind)}: "
                f"{fmt(c['change'], kind, signed=True)}, {'pass' if c['passed'] else 'FAIL'}"
            )
        if changes:
            status = "pass" if all(c["passed"] for c in changes) else "FAIL"
            out.append(
                {
                    "id": "change",
                    "name": name,
                    "rule": " and ".join(rules),
                    "detail": "; ".join(parts),
                    "status": status,
                }
            )
        else:
            out.append(
                {"id": "change", "name": name, "rule": "", "detail": "none configured", "status": "not configured"}
            )
    else:
        out.append(
            {
                "id": "change",
                "name": "change thresholds",
                "rule": "",
                "status": "not applied",
                "detail": f"not applied: {_baseline_note(b)}",
            }
        )
    gate = b.get("fairness_check")
    if gate:
        measured = _gate_measured(gate)
        status = "pass" if gate["passed"] else ("FAIL" if measured else "not passed")
        out.append(
            {
                "id": "gate",
                "name": "fairness gate",
                "rule": gate_rule(gate, task, unit),
                "detail": gate_detail(gate, task, unit),
                "status": status,
            }
        )
    else:
        out.append(
            {"id": "gate", "name": "fairness gate", "rule": "", "detail": "none configured", "status": "not configured"}
        )
    tfma = [r for r in b.get("reasons") or [] if r.startswith("TFMA's validation")]
    if tfma:
        out.append(
            {
                "id": "tfma",
                "name": "TFMA's own validation",
                "rule": "TFMA's validation result is OK",
                "detail": tfma[0],
                "status": "FAIL",
            }
        )
    return out


def headline(b: dict) -> str:
    """Names every check that was applied (with its rule and result) and those that were not."""
    applied, skipped = [], []
    for c in applied_checks(b):
        if c["status"] in ("not applied", "not configured"):
            skipped.append(f"{c['name']} ({c['detail'].removeprefix('not applied: ')})")
        elif c["status"] == "not passed":
            applied.append(f"{c['name']}: {c['rule']} — nothing to measure, not passed")
        elif "nothing to measure" in c["detail"]:
            applied.append(f"{c['name']}: {c['rule']} — nothing to measure, passed by when_unmeasurable: pass")
        else:
            applied.append(f"{c['name']}: {c['rule']} — {c['status']}")
    text = f"{b['decision']}. Checks applied: " + ("; ".join(applied) if applied else "none") + "."
    if skipped:
        text += " Not applied: " + "; ".join(skipped) + "."
    return text


def headline_metrics(b: dict, count: int = 2) -> list[tuple[str, str]]:
    """The run's headline numbers, (title, formatted value): the metrics its value thresholds
    checked, then the task's first metrics in contracts/metrics.py, `count` at least."""
    task, unit = task_of(b), label_unit(b)
    defs = _by_config_name(task)
    chosen = [defs[c["metric"]] for c in b.get("checks") or [] if c["metric"] in defs]
    for d in METRICS.get(task, METRICS["binary"]):
        if len(chosen) >= count:
            break
        if d.reported != "example_count" and d not in chosen:
            chosen.append(d)
    overall = b.get("overall_metrics") or {}
    return [
        (metric_title(task, d.reported, unit), fmt(overall.get(d.reported), metric_kind(task, d.reported)))
        for d in chosen
    ]


def gate_summary(b: dict) -> tuple[str, str]:
    """The fairness gate in a few words: (status, e.g. 'FNR @ 0.5 gap 0.0065 ≤ 0.3500 across area')."""
    gate = b.get("fairness_check")
    if not gate:
        return "not configured", ""
    task, unit = task_of(b), label_unit(b)
    kind = metric_kind(task, gate["metric"])
    suffix = f" {unit}" if kind == "unit" else ""
    if _gate_measured(gate):
        op = "≤" if gate["gap"] <= gate["max_gap"] else ">"
        return ("pass" if gate["passed"] else "FAIL"), (
            f"{metric_title(task, gate['metric'])} gap {fmt(gate['gap'], kind)} {op} {fmt(gate['max_gap'], kind)}"
            f"{suffix} across {gate['feature']}"
        )
    return ("pass" if gate["passed"] else "not passed"), f"nothing to measure across {gate['feature']}"


def check_status(b: dict, check_id: str) -> dict:
    """One entry of applied_checks ('value', 'change', 'gate', 'tfma')."""
    return next((c for c in applied_checks(b) if c["id"] == check_id), {"status": "not configured", "detail": ""})


_STATUS_CLASS = {"pass": "s-pass", "FAIL": "s-fail", "not passed": "s-fail"}


def _rule(check: dict) -> str:
    return f": {check['rule']}" if check.get("rule") else ""


def _applied_list(b: dict) -> str:
    items = "".join(
        f'<li data-check="{c["id"]}" data-status="{_esc(c["status"])}"><span class="status '
        f'{_STATUS_CLASS.get(c["status"], "s-skip")}">{_esc(c["status"])}</span> <b>{_esc(c["name"])}</b>'
        f"{_esc(_rule(c))} — {_esc(c['detail'])}</li>"
        for c in applied_checks(b)
    )
    return f'<ul id="applied-checks">{items}</ul>'


def _checks_table(b: dict) -> str:
    task, unit = task_of(b), label_unit(b)
    rows = []
    for c in b.get("checks") or []:
        title, kind = _config_metric(task, c["metric"])
        rows.append(
            (
                "pass" if c["passed"] else "fail",
                f"value: {title}",
                fmt(c["value"], kind),
                _bounds_text(c["lower_bound"], c["upper_bound"], kind, unit),
                "pass" if c["passed"] else "FAIL",
            )
        )
    baseline = b.get("baseline")
    for c in b.get("change_checks") or []:
        title, kind = _config_metric(task, c["metric"])
        rows.append(
            (
                "pass" if c["passed"] else "fail",
                f"change vs baseline version {baseline['version']}: {title}",
                f"{fmt(c['candidate'], kind)} vs {fmt(c['baseline'], kind)} ({fmt(c['change'], kind, signed=True)})",
                _change_limit(c, kind, unit),
                "pass" if c["passed"] else "FAIL",
            )
        )
    if not baseline:
        rows.append(("skip", "change thresholds", DASH, _baseline_note(b), "not applied"))
    gate = b.get("fairness_check")
    if gate:
        kind = metric_kind(task, gate["metric"])
        measured = _gate_measured(gate)
        value = (
            f"gap {fmt(gate['gap'], kind)} ({gate['largest']} vs {gate['smallest']})"
            if measured
            else gate_detail(gate, task, unit)
        )
        result = "pass" if gate["passed"] else ("FAIL" if measured else "not passed")
        rows.append(
            (
                "pass" if gate["passed"] else "fail",
                f"fairness gate: {metric_title(task, gate['metric'])} across {gate['feature']}",
                value,
                f"gap {_bounds_text(None, gate['max_gap'], kind, unit)}, groups ≥ "
                f"{fmt(gate['min_examples'], 'count')} examples",
                result,
            )
        )
    body = "".join(
        f'<tr class="{cls}"><td>{_esc(name)}</td><td>{_esc(value)}</td><td>{_esc(limit)}</td><td>{result}</td></tr>'
        for cls, name, value, limit, result in rows
    )
    table = (
        '<table id="checks"><thead><tr><th>check</th><th>value</th><th>limit</th><th>result</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return table + (_gate_groups(b) if gate else "")


def _gate_groups(b: dict) -> str:
    gate, task = b["fairness_check"], task_of(b)
    kind = metric_kind(task, gate["metric"])
    rows = []
    for g in sorted(gate.get("groups") or [], key=lambda g: _group_order(g["group"])):
        if g.get("counted"):
            why = "counted"
        elif g.get("example_count") is None:
            why = "no metrics (under min_slice_size)"
        elif g["example_count"] < gate["min_examples"]:
            why = f"not counted: fewer than {fmt(gate['min_examples'], 'count')} examples"
        else:
            why = "not counted: no value"
        rows.append(
            f'<tr class="{"" if g.get("counted") else "skip"}"><td>{_esc(g["group"])}</td>'
            f"{_cell(g.get('example_count'), 'count')}{_cell(g.get('value'), kind)}<td>{why}</td></tr>"
        )
    return (
        f'<details><summary>The gate\'s groups ({len(rows)})</summary><table class="sortable" id="gate-groups">'
        f"<thead><tr><th>{_esc(gate['feature'])}</th><th>examples</th><th>{_esc(metric_title(task, gate['metric']))}"
        f"</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


# --------------------------------------------------------------------------- tables


def _cell(value, kind: str = "metric", interval=None, signed: bool = False) -> str:
    data = f' data-v="{value}"' if _finite(value) else ""
    ci = (
        f'<br><span class="ci">[{fmt(interval[0], kind)}, {fmt(interval[1], kind)}]</span>'
        if interval and None not in interval
        else ""
    )
    return f"<td{data}>{fmt(value, kind, signed)}{ci}</td>"


def _overall_table(b: dict) -> str:
    task, unit = task_of(b), label_unit(b)
    base = b.get("baseline_metrics") or {}
    intervals = (b.get("intervals") or {}).get("Overall", {})
    head = "<th>metric</th><th>candidate</th>" + (
        f"<th>baseline (version {_esc(b['baseline']['version'])})</th><th>change</th>" if base else ""
    )
    rows = []
    for d in METRICS.get(task, METRICS["binary"]):
        kind = metric_kind(task, d.reported)
        cand = b["overall_metrics"].get(d.reported)
        row = (
            f'<tr data-metric="{d.reported}"><td>{_esc(metric_title(task, d.reported, unit))}</td>'
            f"{_cell(cand, kind, intervals.get(d.reported))}"
        )
        if base:
            old = base.get(d.reported)
            diff = cand - old if _finite(cand) and _finite(old) else None
            row += f"{_cell(old, kind)}{_cell(diff, kind, signed=True)}"
        rows.append(row + "</tr>")
    return f'<table id="overall"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def slice_columns(b: dict, threshold: str) -> list[tuple[str, str, str]]:
    """(metric key, column title, number kind) of the slice tables, for the run's task."""
    task, unit = task_of(b), label_unit(b)
    cols = [
        (d.reported, metric_title(task, d.reported, unit), metric_kind(task, d.reported))
        for d in METRICS.get(task, METRICS["binary"])
    ]
    if task == "binary":
        cols += [
            (f"{FAIRNESS_PREFIX}{r}@{threshold}", f"{_abbrev(r)}@{threshold}", "metric")
            for r in ("false_positive_rate", "false_negative_rate")
        ]
    elif task == "multiclass":
        cols += [(per_class_key("recall", c), f"recall ({c})", "metric") for c in _classes(b)]
    return cols


def _abbrev(rate: str) -> str:
    return "".join(w[0] for w in rate.split("_")).upper() if rate.endswith("_rate") else rate_title(rate)


def _slice_tables(b: dict, threshold: str) -> str:
    by_feature: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, metrics in sorted(b.get("slice_metrics", {}).items(), key=lambda kv: _group_order(_group(kv[0]))):
        by_feature[slice_feature(name)].append((name, metrics))
    intervals = b.get("intervals") or {}
    cols = slice_columns(b, threshold)
    out = []
    for feature, rows in by_feature.items():
        head = f"<th>{_esc(feature)}</th>" + "".join(f"<th>{_esc(title)}</th>" for _, title, _ in cols)
        body = "".join(
            f"<tr><td>{_esc(_group(name))}</td>"
            + "".join(_cell(m.get(key), kind, intervals.get(name, {}).get(key)) for key, _, kind in cols)
            + "</tr>"
            for name, m in rows
        )
        out.append(
            f'<h3>{_esc(feature)}</h3><div class="wide"><table class="sortable slice-table" '
            f'id="slices-{_slug(feature)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        )
    suppressed = b.get("suppressed_slices") or []
    if suppressed:
        out.append(
            f'<p class="muted" id="suppressed">{fmt(len(suppressed), "count")} slice(s) below the minimum slice '
            f"size are not shown: {_esc(', '.join(suppressed[:20]))}{' …' if len(suppressed) > 20 else ''}</p>"
        )
    return "".join(out) or '<p class="muted">No slices configured.</p>'


def _classes(b: dict) -> list[str]:
    return list((b.get("label") or {}).get("classes") or [])


# --------------------------------------------------------------------------- charts


def nice_step(span: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above span."""
    if not _finite(span) or span <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(span))
    return next(m * exp for m in (1, 2, 2.5, 5, 10) if span <= m * exp * (1 + 1e-12))


def nice_max(value: float) -> float:
    """An axis end at or above value: a whole number of nice steps (about five ticks)."""
    if not _finite(value) or value <= 0:
        return 1.0
    step = nice_step(value / 5)
    return math.ceil(value / step - 1e-9) * step


def _ticks(axis_max: float) -> list[float]:
    step = 0.2 if axis_max == 1.0 else nice_step(axis_max / 5)
    return [i * step for i in range(int(round(axis_max / step)) + 1)]


def bar_chart(
    chart_id: str,
    title: str,
    rows: list[dict],
    axis_max: float,
    axis_title: str,
    kind: str,
    series: list[str] | None = None,
    marks: list[tuple[float, str]] | None = None,
    band: tuple[float, float, str] | None = None,
    note: str = "",
) -> str:
    """A horizontal bar chart on one axis from 0 to axis_max, the same for every bar.

    rows: {"label", "values": [value or None per series], "muted": bool}. Every bar is a
    <rect class="bar"> with data-value; the axis is <line class="axis"> with data-max, so a
    bar's width is value / axis_max of the axis' width. marks: grey dashed lines (value,
    label); band: a red shaded span (low, high, label), the gate's gap."""
    series = series or [""]
    left, axis_w, right = 170, 300, 64
    bar = 12 if len(series) == 1 else 9
    gap = 8
    legend = 16 if len(series) > 1 else 0
    top = 24 + legend
    group_h = bar * len(series) + gap
    axis_y = top + len(rows) * group_h + 2
    width, height = left + axis_w + right, axis_y + 36
    scale = axis_w / axis_max
    parts = []
    for k, name in enumerate(series if len(series) > 1 else []):
        x = left - 150 + k * 150
        parts.append(
            f'<rect x="{x}" y="21" width="10" height="10" fill="{_PALETTE[k % len(_PALETTE)]}"/>'
            f'<text x="{x + 14}" y="30" font-size="11">{_esc(name[:24])}</text>'
        )
    for v in _ticks(axis_max):
        x = left + v * scale
        parts.append(
            f'<line x1="{x:.2f}" y1="{top - 2}" x2="{x:.2f}" y2="{axis_y + 4}" stroke="#d0d7de" stroke-width="0.5"/>'
            f'<text x="{x:.2f}" y="{axis_y + 15}" font-size="10" text-anchor="middle">{v:,.6g}</text>'
        )
    if band and _finite(band[0]) and _finite(band[1]):
        x0, x1 = left + min(band[0], axis_max) * scale, left + min(band[1], axis_max) * scale
        parts.append(
            f'<rect class="gap-band" x="{x0:.2f}" y="{top - 4}" width="{max(x1 - x0, 1.5):.2f}" '
            f'height="{axis_y - top + 4}" fill="#cf222e" fill-opacity="0.12" stroke="#cf222e" stroke-width="0.8">'
            f"<title>{_esc(band[2])}</title></rect>"
        )
    for i, row in enumerate(rows):
        y0 = top + i * group_h
        muted_text = ' fill="#656d76"' if row.get("muted") else ""
        muted_bar = ' fill-opacity="0.35"' if row.get("muted") else ""
        parts.append(
            f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="10"{muted_text}>{_esc(row["label"])}</text>'
        )
        for k, value in enumerate(row["values"]):
            y = y0 + k * bar
            if not _finite(value):
                parts.append(f'<text x="{left + 4}" y="{y + bar - 1}" font-size="9" fill="#656d76">no value</text>')
                continue
            w = max(0.0, min(value, axis_max)) * scale
            parts.append(
                f'<rect class="bar" x="{left}" y="{y}" width="{w:.2f}" height="{bar - 1}" '
                f'fill="{_PALETTE[k % len(_PALETTE)]}"{muted_bar} data-value="{value!r}" '
                f'data-group="{_esc(row["group"])}" data-series="{_esc(series[k])}"/>'
                f'<text x="{left + w + 4:.2f}" y="{y + bar - 1}" font-size="{10 if bar > 10 else 9}">'
                f"{fmt(value, kind)}</text>"
            )
    for value, label in marks or []:
        if _finite(value):
            x = left + min(value, axis_max) * scale
            parts.append(
                f'<line class="mark" x1="{x:.2f}" y1="{top - 4}" x2="{x:.2f}" y2="{axis_y}" stroke="#57606a" '
                f'stroke-dasharray="4,3"><title>{_esc(label)}</title></line>'
            )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{left + axis_w}" y2="{axis_y}" stroke="#57606a" '
        f'data-max="{axis_max!r}"/><text x="{left + axis_w / 2}" y="{axis_y + 30}" font-size="11" '
        f'text-anchor="middle">{_esc(axis_title)}</text>'
    )
    caption = f'<div class="muted caption" style="max-width:{width}px">{_esc(note)}</div>' if note else ""
    return (
        f'<div class="chart" id="{_esc(chart_id)}"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img"><title>{_esc(title)}</title><text x="4" y="14" font-size="12" '
        f'font-weight="600">{_esc(title)}</text>{"".join(parts)}</svg>{caption}</div>'
    )


def _single_feature_slices(b: dict) -> dict[str, list[tuple[str, dict]]]:
    by_feature: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, metrics in (b.get("slice_metrics") or {}).items():
        if " x " not in name:
            by_feature[slice_feature(name)].append((_group(name), metrics))
    for rows in by_feature.values():
        rows.sort(key=lambda r: _group_order(r[0]))
    return dict(sorted(by_feature.items()))


def _gate_info(b: dict) -> tuple[dict, set[str]]:
    gate = b.get("fairness_check") or {}
    counted = {g["group"] for g in gate.get("groups") or [] if g.get("counted")}
    return gate, counted


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _row(group: str, metrics: dict, values: list, gated: bool, counted: set[str]) -> dict:
    n = metrics.get("example_count")
    label = f"{_clip(group, 18)} (n={fmt(n, 'count')})" if _finite(n) else _clip(group, 26)
    muted = gated and group not in counted
    return {"group": group, "label": label + (" ✗" if muted else ""), "values": values, "muted": muted}


def _gate_band(gate: dict) -> tuple[float, float, str] | None:
    if not _gate_measured(gate):
        return None
    values = {g["group"]: g.get("value") for g in gate.get("groups") or []}
    low, high = values.get(gate["smallest"]), values.get(gate["largest"])
    return (low, high, f"the gate's gap: {gate['smallest']} to {gate['largest']}") if _finite(low) else None


def _gate_caption(b: dict) -> str:
    gate, task = b.get("fairness_check") or {}, task_of(b)
    if not gate:
        return ""
    shaded = "Shaded: the gap between the counted groups; " if _gate_measured(gate) else ""
    return (
        f"The fairness gate ({gate_rule(gate, task, label_unit(b))}): {gate_detail(gate, task, label_unit(b))}. "
        f"{shaded}✗: a group the gate does not count."
    )


def _rate_charts(b: dict) -> str:
    """Classification: rates per group of each single-feature slice at each decision threshold,
    all on one 0-1 axis. Binary: false negative and false positive rate side by side (and the
    gate's rate); multiclass: one chart per rate, one bar per class in each group. The gate's
    threshold (else 0.5) is open, the other thresholds folded."""
    task = task_of(b)
    classes = _classes(b) if task == "multiclass" else []
    gate, counted = _gate_info(b)
    gate_rate = parse_rate(gate.get("metric", "")) if gate else None
    rates = list(CHART_RATES) + ([gate_rate[0]] if gate_rate and gate_rate[0] not in CHART_RATES else [])
    shown = _slice_threshold(b)
    out = []
    for threshold in fairness_thresholds(b["overall_metrics"]):
        charts = []
        for feature, groups in _single_feature_slices(b).items():
            if len(groups) > MAX_CHART_GROUPS:
                continue
            gated = bool(gate_rate) and gate.get("feature") == feature and gate_rate[1] == threshold
            # (chart title suffix, series names, [metric key per series])
            if classes:
                plans = [
                    (rate, classes, [per_class_key(f"{FAIRNESS_PREFIX}{rate}@{threshold}", c) for c in classes])
                    for rate in rates
                ]
            else:
                plans = [(None, [rate_title(r) for r in rates], [f"{FAIRNESS_PREFIX}{r}@{threshold}" for r in rates])]
            for rate, names, keys in plans:
                rows = [
                    _row(group, m, [m.get(k) for k in keys], gated, counted)
                    for group, m in groups
                    if any(_finite(m.get(k)) for k in keys)
                ]
                if not rows:
                    continue
                this_gate = gated and (rate is None or rate == gate_rate[0])
                what = f"{rate_title(rate)} @ {threshold}" if rate else f"rates @ {threshold}"
                title = f"{what} by {feature}" + (" (the fairness gate)" if this_gate else "")
                note = _gate_caption(b) if this_gate else ""
                if this_gate and classes:
                    note += f" Only {gate_rate[2]} counts for the gate."
                elif this_gate:
                    note += f" The gate compares {rate_title(gate_rate[0])}."
                slug = f"chart-{_slug(rate or 'rates')}-{threshold}-{_slug(feature)}"
                charts.append(
                    bar_chart(
                        slug,
                        title,
                        rows,
                        1.0,
                        "rate (0 to 1, the same axis in every chart)",
                        "metric",
                        series=names,
                        band=_gate_band(gate) if this_gate else None,
                        note=note,
                    )
                )
        body = f'<div class="charts" id="fairness-{threshold}">{"".join(charts) or "<p>No slice has rates.</p>"}</div>'
        if threshold == shown:
            out.insert(0, f"<h3>Decision threshold {threshold}</h3>{body}")
        else:
            out.append(f"<details><summary>Decision threshold {threshold}</summary>{body}</details>")
    return "".join(out) or '<p class="muted">No fairness rates were computed.</p>'


def _error_charts(b: dict) -> str:
    """Regression: an error metric per group of each single-feature slice (the gate's metric,
    else MAE); each chart has one axis from 0, in the label's units."""
    task, unit = task_of(b), label_unit(b)
    gate, counted = _gate_info(b)
    metric = gate.get("metric") if gate.get("metric") in GAP_METRICS else "mean_absolute_error"
    kind = metric_kind(task, metric)
    unit_text = f"{unit}²" if metric == "mean_squared_error" else unit
    overall = b["overall_metrics"].get(metric)
    charts = []
    slices = _single_feature_slices(b)
    for feature in sorted(slices, key=lambda f: f != gate.get("feature")):  # the gate's chart first
        groups = slices[feature]
        gated = gate.get("feature") == feature
        rows = [_row(group, m, [m.get(metric)], gated, counted) for group, m in groups]
        values = [r["values"][0] for r in rows if _finite(r["values"][0])]
        if not values or len(groups) > MAX_CHART_GROUPS:
            continue
        axis_max = nice_max(max(values + ([overall] if _finite(overall) else [])))
        title = f"{metric_title(task, metric)} by {feature}" + (" (the fairness gate)" if gated else "")
        note = (_gate_caption(b) + " " if gated else "") + f"Dashed line: overall {fmt(overall, kind)} {unit_text}."
        charts.append(
            bar_chart(
                f"chart-{_slug(metric)}-{_slug(feature)}",
                title,
                rows,
                axis_max,
                f"{metric_title(task, metric)} in {unit_text} (axis from 0)",
                kind,
                marks=[(overall, f"overall {fmt(overall, kind)}")],
                band=_gate_band(gate) if gated else None,
                note=note,
            )
        )
    if not charts:
        return '<p class="muted">No slice has error metrics.</p>'
    return f'<div class="charts" id="error-charts">{"".join(charts)}</div>'


# --------------------------------------------------------------------------- task sections


def _class_counts_table(b: dict) -> str:
    label = b.get("label") or {}
    counts = label.get("class_counts") or {}
    classes = _classes(b)
    if not counts or not classes:
        return ""
    head = "<th>split</th><th>examples</th>" + "".join(f"<th>{_esc(c)}</th>" for c in classes)
    rows = []
    for split, by_class in counts.items():
        total = sum(by_class.values())
        rows.append(
            f"<tr><td>{_esc(split)}</td>{_cell(total, 'count')}"
            + "".join(
                f'<td data-v="{by_class.get(c, 0)}">{fmt(by_class.get(c, 0), "count")} '
                f"<span class=ci>({fmt(by_class.get(c, 0) / total if total else None, 'percent')})</span></td>"
                for c in classes
            )
            + "</tr>"
        )
    return (
        f'<h3>Label {_esc(label.get("name", ""))}: examples per class</h3><table id="class-counts">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _binary_section(b: dict) -> str:
    overall = b["overall_metrics"]
    rates = ("false_positive_rate", "false_negative_rate", "true_positive_rate", "precision", "positive_rate")
    rows = "".join(
        f'<tr data-threshold="{t}"><td>{t}</td>'
        + "".join(_cell(overall.get(f"{FAIRNESS_PREFIX}{r}@{t}")) for r in rates)
        + "</tr>"
        for t in fairness_thresholds(overall)
    )
    table = (
        '<h3>At each decision threshold (overall)</h3><table id="binary-rates"><thead><tr><th>threshold</th>'
        + "".join(f"<th>{rate_title(r)}</th>" for r in rates)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    roc = (
        f'<p id="roc-summary">Ranking quality over all thresholds: AUC {fmt(overall.get("auc"))}, '
        f"AUC-PR {fmt(overall.get('auc_precision_recall'))} (share of positives in the eval split: "
        f"{fmt(overall.get('mean_label'))}).</p>"
    )
    return (
        f'<section id="task-binary"><h2>Binary classification</h2>{roc}{_class_counts_table(b)}{table}'
        f"<h3>Fairness: rates per group</h3>{_rate_charts(b)}</section>"
    )


def confusion_matrix_html(b: dict) -> str:
    classes, matrix = _classes(b), b.get("confusion_matrix") or []
    if not matrix or len(matrix) != len(classes):
        return '<p class="muted" id="confusion-matrix">No confusion matrix in blessing.json.</p>'
    head = "<th>actual \\ predicted</th>" + "".join(f"<th>{_esc(c)}</th>" for c in classes) + "<th>total</th>"
    rows = []
    for i, (cls, row) in enumerate(zip(classes, matrix, strict=True)):
        total = sum(row)
        cells = []
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            color = "26,127,55" if i == j else "207,34,46"
            cells.append(
                f'<td class="cm{" diag" if i == j else ""}" data-count="{count}" data-v="{count}" '
                f'style="background:rgba({color},{0.06 + 0.4 * share:.3f})">{fmt(count, "count")}'
                f'<br><span class="ci">{fmt(share if total else None, "percent")}</span></td>'
            )
        rows.append(f"<tr><td>{_esc(cls)}</td>{''.join(cells)}{_cell(total, 'count')}</tr>")
    columns = [sum(r[j] for r in matrix) for j in range(len(classes))]
    rows.append(
        '<tr class="agg"><td>total</td>'
        + "".join(_cell(c, "count") for c in columns)
        + _cell(sum(columns), "count")
        + "</tr>"
    )
    return (
        f'<table id="confusion-matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="muted">Rows: the actual class; columns: the predicted class (the most probable one); '
        "the share is of the row (green: right, red: wrong).</p>"
    )


def _multiclass_section(b: dict, threshold: str) -> str:
    overall = b["overall_metrics"]
    classes = _classes(b)
    eval_counts = ((b.get("label") or {}).get("class_counts") or {}).get("eval", {})
    cols = [
        ("precision", "precision"),
        ("recall", "recall"),
        ("auc", "AUC"),
        (f"{FAIRNESS_PREFIX}false_negative_rate@{threshold}", f"FNR@{threshold}"),
        (f"{FAIRNESS_PREFIX}false_positive_rate@{threshold}", f"FPR@{threshold}"),
    ]
    head = "<th>class</th><th>eval examples</th>" + "".join(f"<th>{t}</th>" for _, t in cols)
    rows = [
        f'<tr data-class="{_esc(c)}"><td>{_esc(c)}</td>{_cell(eval_counts.get(c), "count")}'
        + "".join(_cell(overall.get(per_class_key(k, c))) for k, _ in cols)
        + "</tr>"
        for c in classes
    ]
    for agg in ("macro", "micro"):
        rows.append(
            f'<tr class="agg" data-class="{agg}"><td>{agg} average</td><td></td>'
            + "".join(
                _cell(overall.get(f"{agg}_{k}")) if k in ("precision", "recall", "auc") else "<td></td>"
                for k, _ in cols
            )
            + "</tr>"
        )
    table = (
        f'<table id="per-class"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="muted">One-vs-rest per class at decision threshold {threshold}; macro averages weigh '
        "every class equally, micro averages every example. Accuracy (top-1): "
        f"{fmt(overall.get('accuracy'))}.</p>"
    )
    return (
        f'<section id="task-multiclass"><h2>Multiclass classification</h2><h3>Per class</h3>{table}'
        f"{_class_counts_table(b)}<h3>Confusion matrix (eval split)</h3>{confusion_matrix_html(b)}"
        f"<h3>Fairness: rates per group and class</h3>{_rate_charts(b)}</section>"
    )


def _regression_section(b: dict) -> str:
    overall, unit = b["overall_metrics"], label_unit(b)
    label = b.get("label") or {}
    ml, mp = overall.get("mean_label"), overall.get("mean_prediction")
    bias = ""
    if _finite(ml) and _finite(mp):
        diff = mp - ml
        bias = (
            f'<p id="bias">Mean prediction {fmt(mp, "unit")} vs mean label {fmt(ml, "unit")} {_esc(unit)}: the model '
            f"{'over' if diff > 0 else 'under'}-predicts by {fmt(abs(diff), 'unit')} {_esc(unit)} on average "
            f"(calibration {fmt(overall.get('calibration'))}; 1 is none).</p>"
        )
    values = label.get("values") or {}
    value_rows = "".join(
        f"<tr><td>{_esc(s)}</td>{_cell(v.get('count'), 'count')}{_cell(v.get('mean'), 'unit')}"
        f"{_cell(v.get('min'), 'unit')}{_cell(v.get('max'), 'unit')}</tr>"
        for s, v in values.items()
    )
    value_table = (
        (
            f'<h3>Label {_esc(label.get("name", ""))} per split ({_esc(unit)})</h3><table id="label-values">'
            "<thead><tr><th>split</th><th>count</th><th>mean</th><th>min</th><th>max</th></tr></thead>"
            f"<tbody>{value_rows}</tbody></table>"
        )
        if value_rows
        else ""
    )
    return (
        f'<section id="task-regression"><h2>Regression</h2><p id="errors">On the eval split: MAE '
        f"{fmt(overall.get('mean_absolute_error'), 'unit')} and RMSE "
        f"{fmt(overall.get('root_mean_squared_error'), 'unit')} {_esc(unit)}, "
        f"r² {fmt(overall.get('squared_pearson_correlation'))}.</p>"
        f"{bias}{value_table}<h3>Error by group</h3>{_error_charts(b)}</section>"
    )


# --------------------------------------------------------------------------- data section


def _provenance(b: dict, run: dict) -> str:
    data = b.get("data") or {}
    source = data.get("source") or run.get("data")
    if not source:
        return '<p class="muted" id="provenance">blessing.json does not say what the run read.</p>'
    files = data.get("files") or []
    shown = "".join(f"<li><code>{_esc(f)}</code></li>" for f in files[:20])
    more = f"<li>… and {fmt(len(files) - 20, 'count')} more</li>" if len(files) > 20 else ""
    splits = ", ".join(f"{_esc(s)} {fmt(n, 'count')}" for s, n in (data.get("split_counts") or {}).items())
    facts = [
        ("source", f"<code>{_esc(source)}</code>"),
        (f"files ({fmt(len(files), 'count')})", f"<ul>{shown}{more}</ul>" if files else DASH),
        ("rows read", fmt(data.get("rows_read"), "count")),
        ("examples per split", splits or DASH),
        ("duplicate rows", fmt(data.get("duplicate_rows"), "count")),
    ]
    return '<dl class="facts" id="provenance">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _missing_text(most_missing: list) -> str:
    return ", ".join(f"{name} {fmt(share, 'percent')}" for name, share in most_missing) or DASH


def _data_section(b: dict, run: dict, summary: dict | None) -> str:
    out = [f"<h3>What the run read</h3>{_provenance(b, run)}"]
    warnings = (b.get("data") or {}).get("warnings") or []
    if warnings:
        out.append(
            '<h3>ExampleGen warnings</h3><ul class="warn" id="data-warnings">'
            + "".join(f"<li>{_esc(w)}</li>" for w in warnings)
            + "</ul>"
        )
    else:
        out.append('<p class="muted" id="data-warnings">ExampleGen reported no warnings.</p>')
    if not summary:
        out.append('<p class="muted">No statistics or anomalies were given to the Evaluator.</p>')
        return "".join(out)
    rows = "".join(
        f"<tr><td>{_esc(s)}</td>{_cell(v['examples'], 'count')}{_cell(v['features'], 'count')}"
        f"<td>{_esc(_missing_text(v['most_missing']))}</td></tr>"
        for s, v in summary.get("splits", {}).items()
    )
    if rows:
        out.append(
            '<h3>Statistics (TFDV)</h3><table id="data"><thead><tr><th>split</th><th>examples</th>'
            f"<th>features</th><th>most missing</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    anomalies = summary.get("anomalies") or []
    if anomalies:
        body = "".join(
            f'<tr class="{"fail" if a["blocking"] else "skip"}" data-type="{_esc(",".join(a["types"]))}">'
            f"<td>{_esc(a['split'])}</td><td><code>{_esc(a['feature'])}</code></td>"
            f"<td>{_esc(', '.join(a['types']))}</td><td>{_esc(a['description'])}"
            + "".join(f'<br><span class="ci">{_esc(DATA_CHECKS[t])}</span>' for t in a["types"] if t in DATA_CHECKS)
            + f"</td><td>{'blocking' if a['blocking'] else 'warning'}</td></tr>"
            for a in anomalies
        )
        warn = sum(1 for a in anomalies if not a["blocking"])
        out.append(
            f"<h3>Anomalies ({fmt(len(anomalies), 'count')}: {fmt(warn, 'count')} warning(s), "
            f'{fmt(len(anomalies) - warn, "count")} blocking)</h3><table id="anomalies"><thead><tr>'
            "<th>split</th><th>feature</th><th>type</th><th>description</th><th>kind</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    else:
        out.append('<p id="anomalies">No data anomalies against the schema, and no warnings from the data checks.</p>')
    return "".join(out)


# --------------------------------------------------------------------------- the page


def _slice_threshold(b: dict) -> str:
    thresholds = fairness_thresholds(b["overall_metrics"]) or ["0.5"]
    gate_rate = parse_rate((b.get("fairness_check") or {}).get("metric", ""))
    if gate_rate and gate_rate[1] in thresholds:
        return gate_rate[1]
    return "0.5" if "0.5" in thresholds else thresholds[0]


def render_html(b: dict, run: dict, summary: dict | None = None) -> str:
    task, decision = task_of(b), b["decision"]
    label = b.get("label") or {}
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in b.get("reasons", []))
    # The note on change thresholds is in the list of checks already.
    notes = "".join(f"<li>{_esc(n)}</li>" for n in b.get("notes", []) if "change thresholds not applied" not in n)
    baseline = b.get("baseline")
    vs = f"against baseline version {_esc(baseline['version'])}" if baseline else _esc(_baseline_note(b))
    threshold = _slice_threshold(b)
    facts = dict(run) | {
        "task": TASK_TITLES.get(task, task),
        "label": label.get("name"),
        "data": (b.get("data") or {}).get("source") or run.get("data"),
    }
    facts_html = "".join(f'<span class="muted">{_esc(k)}:</span> {_esc(v)} &nbsp; ' for k, v in facts.items() if v)
    section = {
        "binary": lambda: _binary_section(b),
        "multiclass": lambda: _multiclass_section(b, threshold),
        "regression": lambda: _regression_section(b),
    }.get(task, lambda: "")()
    slice_title = (
        "Slices: errors by group" if task == "regression" else f"Slices (rates at decision threshold {threshold})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation: {_esc(run.get("model", ""))} {decision}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body data-task="{_esc(task)}"><main>
<h1>Evaluation of {_esc(run.get("model", "the model"))}</h1>
<div class="muted" id="facts">{facts_html}</div>
<div class="card"><span class="badge {decision}" id="decision">{decision}</span> &nbsp; <span id="baseline">{vs}</span>
<p id="headline">{_esc(headline(b))}</p>{_applied_list(b)}
{f'<h3>Why not blessed</h3><ul id="reasons">{reasons}</ul>' if reasons else ""}
{f'<ul class="muted" id="notes">{notes}</ul>' if notes else ""}</div>
<h2>Checks</h2>{_checks_table(b)}
<h2>Overall metrics</h2>{_overall_table(b)}
{section}
<h2>{_esc(slice_title)}</h2>{_slice_tables(b, threshold)}
<h2>Data</h2>{_data_section(b, run, summary)}
</main><script>{_SCRIPT}</script></body></html>
"""


# --------------------------------------------------------------------------- Markdown


def _md(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def render_markdown(b: dict, run: dict) -> str:
    """The KFP Markdown artifact: the same decision, checks and numbers (same format) in short."""
    task, unit = task_of(b), label_unit(b)
    label = b.get("label") or {}
    lines = [
        f"# Evaluation of {run.get('model', 'the model')}: **{b['decision']}**",
        "",
        f"{TASK_TITLES.get(task, task).capitalize()} of `{label.get('name', '?')}`. {headline(b)}",
        "",
    ]
    for c in applied_checks(b):
        lines.append(f"- **{c['status']}** {c['name']}{_rule(c)} — {c['detail']}")
    for reason in b.get("reasons", []):
        lines.append(f"- not blessed: {reason}")
    baseline_metrics = b.get("baseline_metrics") or {}
    lines += [
        "",
        "| metric | candidate |" + (" baseline | change |" if baseline_metrics else ""),
        "|---|---:|" + ("---:|---:|" if baseline_metrics else ""),
    ]
    for d in METRICS.get(task, METRICS["binary"]):
        kind = metric_kind(task, d.reported)
        cand = b["overall_metrics"].get(d.reported)
        row = f"| {metric_title(task, d.reported, unit)} | {fmt(cand, kind)} |"
        if baseline_metrics:
            old = baseline_metrics.get(d.reported)
            diff = cand - old if _finite(cand) and _finite(old) else None
            row += f" {fmt(old, kind)} | {fmt(diff, kind, signed=True)} |"
        lines.append(row)
    lines += [""] + _markdown_task(b)
    data = b.get("data") or {}
    if data.get("source"):
        splits = ", ".join(f"{s} {fmt(n, 'count')}" for s, n in (data.get("split_counts") or {}).items())
        lines += [
            "",
            f"Data: `{data['source']}` ({fmt(len(data.get('files') or []), 'count')} file(s), "
            f"{fmt(data.get('rows_read'), 'count')} rows read; {splits}).",
        ]
        lines += [f"- data warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines) + "\n"


def _markdown_task(b: dict) -> list[str]:
    task, overall, unit = task_of(b), b["overall_metrics"], label_unit(b)
    lines: list[str] = []
    if task == "binary":
        rates = ("false_positive_rate", "false_negative_rate", "true_positive_rate", "precision")
        thresholds = fairness_thresholds(overall)
        if thresholds:
            lines += [
                "| threshold | " + " | ".join(rate_title(r) for r in rates) + " |",
                "|---|" + "---:|" * len(rates),
            ]
            lines += [
                f"| {t} | " + " | ".join(fmt(overall.get(f"{FAIRNESS_PREFIX}{r}@{t}")) for r in rates) + " |"
                for t in thresholds
            ]
    elif task == "multiclass":
        classes = _classes(b)
        counts = ((b.get("label") or {}).get("class_counts") or {}).get("eval", {})
        lines += ["| class | eval examples | precision | recall | AUC |", "|---|---:|---:|---:|---:|"]
        lines += [
            f"| {_md(c)} | {fmt(counts.get(c), 'count')} | "
            + " | ".join(fmt(overall.get(per_class_key(k, c))) for k in ("precision", "recall", "auc"))
            + " |"
            for c in classes
        ]
        lines += [
            f"| {agg} average | | "
            + " | ".join(fmt(overall.get(f"{agg}_{k}")) for k in ("precision", "recall", "auc"))
            + " |"
            for agg in ("macro", "micro")
        ]
        matrix = b.get("confusion_matrix") or []
        if matrix and len(matrix) == len(classes):
            lines += [
                "",
                "Confusion matrix (rows actual, columns predicted):",
                "",
                "| actual \\ predicted | " + " | ".join(_md(c) for c in classes) + " |",
                "|---|" + "---:|" * len(classes),
            ]
            lines += [
                f"| {_md(c)} | " + " | ".join(fmt(v, "count") for v in row) + " |"
                for c, row in zip(classes, matrix, strict=True)
            ]
    elif task == "regression":
        gate = b.get("fairness_check") or {}
        metric = gate.get("metric") if gate.get("metric") in GAP_METRICS else "mean_absolute_error"
        feature = gate.get("feature")
        groups = _single_feature_slices(b).get(feature, []) if feature else []
        if groups:
            lines += [
                f"{metric_title(task, metric, unit)} by {feature}:",
                "",
                f"| {_md(feature)} | examples | {metric_title(task, metric, unit)} |",
                "|---|---:|---:|",
            ]
            lines += [
                f"| {_md(g)} | {fmt(m.get('example_count'), 'count')} | {fmt(m.get(metric), 'unit')} |"
                for g, m in groups
            ]
    return lines
