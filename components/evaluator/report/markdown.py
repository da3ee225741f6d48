"""The KFP Markdown artifact: the decision, the checks and the overall metrics (in the report's
number format), the task's own table, and what the run read."""

from __future__ import annotations

from components.common.formatting import change, fmt
from components.evaluator.report.binary import binary_markdown
from components.evaluator.report.data import split_counts_text
from components.evaluator.report.decision import applied_checks, headline, rule_text
from components.evaluator.report.label import TASK_TITLES, label_unit, task_of
from components.evaluator.report.metric_names import metric_kind, metric_title, task_metrics
from components.evaluator.report.multiclass import multiclass_markdown
from components.evaluator.report.regression import regression_markdown

_TASK_TABLES = {"binary": binary_markdown, "multiclass": multiclass_markdown, "regression": regression_markdown}


def _metrics_table(b: dict, task: str, unit: str) -> list[str]:
    baseline_metrics = b.get("baseline_metrics") or {}
    lines = [
        "| metric | candidate |" + (" baseline | change |" if baseline_metrics else ""),
        "|---|---:|" + ("---:|---:|" if baseline_metrics else ""),
    ]
    for d in task_metrics(task):
        kind = metric_kind(task, d.reported)
        cand = b["overall_metrics"].get(d.reported)
        row = f"| {metric_title(task, d.reported, unit)} | {fmt(cand, kind)} |"
        if baseline_metrics:
            old = baseline_metrics.get(d.reported)
            row += f" {fmt(old, kind)} | {fmt(change(cand, old), kind, signed=True)} |"
        lines.append(row)
    return lines


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
    lines += [f"- **{c['status']}** {c['name']}{rule_text(c)} — {c['detail']}" for c in applied_checks(b)]
    lines += [f"- not blessed: {reason}" for reason in b.get("reasons", [])]
    lines += ["", *_metrics_table(b, task, unit), ""]
    lines += _TASK_TABLES.get(task, lambda _: [])(b)
    data = b.get("data") or {}
    if data.get("source"):
        lines += [
            "",
            f"Data: `{data['source']}` ({fmt(len(data.get('files') or []), 'count')} file(s), "
            f"{fmt(data.get('rows_read'), 'count')} rows read; {split_counts_text(data)}).",
        ]
        lines += [f"- data warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines) + "\n"
