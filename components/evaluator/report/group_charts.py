"""Charts of a metric per group of each single-feature slice, with the fairness gate marked:
classification rates on one 0-1 axis, regression errors on an axis from 0 in the label's units.
A group the gate does not count is drawn muted; the gate's gap is shaded."""

from __future__ import annotations

from components.common.bar_chart import bar_chart, nice_max
from components.common.formatting import clip, finite, fmt, slug
from components.evaluator.report.decision import gate_detail, gate_measured, gate_rule
from components.evaluator.report.label import classes, label_unit, task_of
from components.evaluator.report.metric_names import (
    error_metric,
    fairness_thresholds,
    metric_kind,
    metric_title,
    metric_unit,
    parse_rate,
    rate_title,
    slice_threshold,
)
from components.evaluator.report.slices import single_feature_slices
from contracts.metrics import FAIRNESS_PREFIX, per_class_key

MAX_CHART_GROUPS = 40
CHART_RATES = ("false_negative_rate", "false_positive_rate")


def _gate_info(b: dict) -> tuple[dict, set[str]]:
    gate = b.get("fairness_check") or {}
    counted = {g["group"] for g in gate.get("groups") or [] if g.get("counted")}
    return gate, counted


def _row(group: str, metrics: dict, values: list, gated: bool, counted: set[str]) -> dict:
    n = metrics.get("example_count")
    label = f"{clip(group, 18)} (n={fmt(n, 'count')})" if finite(n) else clip(group, 26)
    muted = gated and group not in counted
    return {"group": group, "label": label + (" ✗" if muted else ""), "values": values, "muted": muted}


def _gate_band(gate: dict) -> tuple[float, float, str] | None:
    if not gate_measured(gate):
        return None
    values = {g["group"]: g.get("value") for g in gate.get("groups") or []}
    low, high = values.get(gate["smallest"]), values.get(gate["largest"])
    return (low, high, f"the gate's gap: {gate['smallest']} to {gate['largest']}") if finite(low) else None


def _gate_caption(b: dict) -> str:
    gate, task = b.get("fairness_check") or {}, task_of(b)
    if not gate:
        return ""
    shaded = "Shaded: the gap between the counted groups; " if gate_measured(gate) else ""
    return (
        f"The fairness gate ({gate_rule(gate, task, label_unit(b))}): {gate_detail(gate, task, label_unit(b))}. "
        f"{shaded}✗: a group the gate does not count."
    )


def rate_charts(b: dict) -> str:
    """Classification: rates per group of each single-feature slice at each decision threshold,
    all on one 0-1 axis. Binary: false negative and false positive rate side by side (and the
    gate's rate); multiclass: one chart per rate, one bar per class in each group. The gate's
    threshold (else 0.5) is open, the other thresholds folded."""
    names = classes(b) if task_of(b) == "multiclass" else []
    gate, counted = _gate_info(b)
    gate_rate = parse_rate(gate.get("metric", "")) if gate else None
    rates = list(CHART_RATES) + ([gate_rate[0]] if gate_rate and gate_rate[0] not in CHART_RATES else [])
    shown = slice_threshold(b)
    out = []
    for threshold in fairness_thresholds(b["overall_metrics"]):
        charts = []
        for feature, groups in single_feature_slices(b).items():
            if len(groups) > MAX_CHART_GROUPS:
                continue
            gated = bool(gate_rate) and gate.get("feature") == feature and gate_rate[1] == threshold
            # (rate of the chart or None for all rates in one, series names, [metric key per series])
            if names:
                plans = [
                    (rate, names, [per_class_key(f"{FAIRNESS_PREFIX}{rate}@{threshold}", c) for c in names])
                    for rate in rates
                ]
            else:
                plans = [(None, [rate_title(r) for r in rates], [f"{FAIRNESS_PREFIX}{r}@{threshold}" for r in rates])]
            for rate, series, keys in plans:
                rows = [
                    _row(group, m, [m.get(k) for k in keys], gated, counted)
                    for group, m in groups
                    if any(finite(m.get(k)) for k in keys)
                ]
                if not rows:
                    continue
                this_gate = gated and (rate is None or rate == gate_rate[0])
                what = f"{rate_title(rate)} @ {threshold}" if rate else f"rates @ {threshold}"
                title = f"{what} by {feature}" + (" (the fairness gate)" if this_gate else "")
                note = _gate_caption(b) if this_gate else ""
                if this_gate and names:
                    note += f" Only {gate_rate[2]} counts for the gate."
                elif this_gate:
                    note += f" The gate compares {rate_title(gate_rate[0])}."
                charts.append(
                    bar_chart(
                        f"chart-{slug(rate or 'rates')}-{threshold}-{slug(feature)}",
                        title,
                        rows,
                        1.0,
                        "rate (0 to 1, the same axis in every chart)",
                        "metric",
                        series=series,
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


def error_charts(b: dict) -> str:
    """Regression: an error metric per group of each single-feature slice (the gate's metric,
    else MAE); each chart has one axis from 0, in the label's units."""
    task, unit = task_of(b), label_unit(b)
    gate, counted = _gate_info(b)
    metric = error_metric(b)
    kind = metric_kind(task, metric)
    unit_text = metric_unit(metric, unit)
    overall = b["overall_metrics"].get(metric)
    charts = []
    slices = single_feature_slices(b)
    for feature in sorted(slices, key=lambda f: f != gate.get("feature")):  # the gate's chart first
        groups = slices[feature]
        gated = gate.get("feature") == feature
        rows = [_row(group, m, [m.get(metric)], gated, counted) for group, m in groups]
        values = [r["values"][0] for r in rows if finite(r["values"][0])]
        if not values or len(groups) > MAX_CHART_GROUPS:
            continue
        axis_max = nice_max(max(values + ([overall] if finite(overall) else [])))
        title = f"{metric_title(task, metric)} by {feature}" + (" (the fairness gate)" if gated else "")
        note = (_gate_caption(b) + " " if gated else "") + f"Dashed line: overall {fmt(overall, kind)} {unit_text}."
        charts.append(
            bar_chart(
                f"chart-{slug(metric)}-{slug(feature)}",
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
