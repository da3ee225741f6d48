"""Regression: the errors in the label's units, the model's bias, the label per split and the
error per group (HTML section and Markdown table)."""

from __future__ import annotations

from components.common.formatting import cell, esc, finite, fmt, md
from components.evaluator.report.group_charts import error_charts
from components.evaluator.report.label import label_unit, task_of
from components.evaluator.report.metric_names import error_metric, metric_title
from components.evaluator.report.slices import single_feature_slices


def _bias(overall: dict, unit: str) -> str:
    ml, mp = overall.get("mean_label"), overall.get("mean_prediction")
    if not (finite(ml) and finite(mp)):
        return ""
    diff = mp - ml
    return (
        f'<p id="bias">Mean prediction {fmt(mp, "unit")} vs mean label {fmt(ml, "unit")} {esc(unit)}: the model '
        f"{'over' if diff > 0 else 'under'}-predicts by {fmt(abs(diff), 'unit')} {esc(unit)} on average "
        f"(calibration {fmt(overall.get('calibration'))}; 1 is none).</p>"
    )


def _label_values(label: dict, unit: str) -> str:
    value_rows = "".join(
        f"<tr><td>{esc(s)}</td>{cell(v.get('count'), 'count')}{cell(v.get('mean'), 'unit')}"
        f"{cell(v.get('min'), 'unit')}{cell(v.get('max'), 'unit')}</tr>"
        for s, v in (label.get("values") or {}).items()
    )
    if not value_rows:
        return ""
    return (
        f'<h3>Label {esc(label.get("name", ""))} per split ({esc(unit)})</h3><table id="label-values">'
        "<thead><tr><th>split</th><th>count</th><th>mean</th><th>min</th><th>max</th></tr></thead>"
        f"<tbody>{value_rows}</tbody></table>"
    )


def regression_section(b: dict) -> str:
    overall, unit = b["overall_metrics"], label_unit(b)
    return (
        f'<section id="task-regression"><h2>Regression</h2><p id="errors">On the eval split: MAE '
        f"{fmt(overall.get('mean_absolute_error'), 'unit')} and RMSE "
        f"{fmt(overall.get('root_mean_squared_error'), 'unit')} {esc(unit)}, "
        f"r² {fmt(overall.get('squared_pearson_correlation'))}.</p>"
        f"{_bias(overall, unit)}{_label_values(b.get('label') or {}, unit)}"
        f"<h3>Error by group</h3>{error_charts(b)}</section>"
    )


def regression_markdown(b: dict) -> list[str]:
    """The error metric per group of the gate's feature (none without a gate)."""
    task, unit = task_of(b), label_unit(b)
    metric = error_metric(b)
    feature = (b.get("fairness_check") or {}).get("feature")
    groups = single_feature_slices(b).get(feature, []) if feature else []
    if not groups:
        return []
    title = metric_title(task, metric, unit)
    return [f"{title} by {feature}:", "", f"| {md(feature)} | examples | {title} |", "|---|---:|---:|"] + [
        f"| {md(g)} | {fmt(m.get('example_count'), 'count')} | {fmt(m.get(metric), 'unit')} |" for g, m in groups
    ]
