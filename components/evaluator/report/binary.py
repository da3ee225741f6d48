"""Binary classification: ranking quality, the rates at each decision threshold, and the rates
per group (HTML section and Markdown table)."""

from __future__ import annotations

from components.common.formatting import cell, fmt
from components.evaluator.report.group_charts import rate_charts
from components.evaluator.report.label import class_counts_table
from components.evaluator.report.metric_names import fairness_thresholds, rate_title
from contracts.metrics import FAIRNESS_PREFIX

_RATES = ("false_positive_rate", "false_negative_rate", "true_positive_rate", "precision")


def _rate_at(overall: dict, rate: str, threshold: str):
    return overall.get(f"{FAIRNESS_PREFIX}{rate}@{threshold}")


def binary_section(b: dict) -> str:
    overall = b["overall_metrics"]
    rates = (*_RATES, "positive_rate")
    rows = "".join(
        f'<tr data-threshold="{t}"><td>{t}</td>' + "".join(cell(_rate_at(overall, r, t)) for r in rates) + "</tr>"
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
        f'<section id="task-binary"><h2>Binary classification</h2>{roc}{class_counts_table(b)}{table}'
        f"<h3>Fairness: rates per group</h3>{rate_charts(b)}</section>"
    )


def binary_markdown(b: dict) -> list[str]:
    """The overall rates at each decision threshold, one row per threshold."""
    overall = b["overall_metrics"]
    thresholds = fairness_thresholds(overall)
    if not thresholds:
        return []
    return [
        "| threshold | " + " | ".join(rate_title(r) for r in _RATES) + " |",
        "|---|" + "---:|" * len(_RATES),
    ] + [f"| {t} | " + " | ".join(fmt(_rate_at(overall, r, t)) for r in _RATES) + " |" for t in thresholds]
