"""Metric names and titles as the report prints them, and each metric's number kind. Names
and titles come from contracts/metrics.py; Fairness Indicators' keys are parsed here."""

from __future__ import annotations

import re

from contracts.metrics import FAIRNESS_PREFIX, GAP_METRICS, METRICS, MetricDef

# Regression metrics in the label's units (MSE in squared units); the rest are unitless.
UNIT_METRICS = (*GAP_METRICS, "mean_label", "mean_prediction")

_FAIRNESS_KEY = re.compile(r"^(?:" + re.escape(FAIRNESS_PREFIX) + r")?([a-z_]+)@([0-9.]+)(?:\[(.*)\])?$")


def task_metrics(task: str) -> list[MetricDef]:
    """The task's metrics in contracts/metrics.py (binary's for a task it does not know)."""
    return METRICS.get(task, METRICS["binary"])


def metric_kind(task: str, reported: str) -> str:
    base = reported.split("[", 1)[0]
    if base == "example_count":
        return "count"
    if task == "regression" and base in UNIT_METRICS:
        return "unit"
    return "metric"


def metric_unit(metric: str, unit: str) -> str:
    """The units a metric in the label's units is in: squared for MSE."""
    return f"{unit}²" if metric == "mean_squared_error" else unit


def unit_suffix(kind: str, unit: str) -> str:
    """' mpg' after a number in the label's units; nothing after a unitless one."""
    return f" {unit}" if kind == "unit" and unit else ""


def parse_rate(key: str) -> tuple[str, str, str] | None:
    """'fairness_indicators_metrics/false_negative_rate@0.5[cat]' -> (rate, '0.5', 'cat')."""
    m = _FAIRNESS_KEY.match(key)
    return (m.group(1), m.group(2), m.group(3) or "") if m else None


def rate_title(rate: str) -> str:
    return rate.replace("_", " ")


def rate_abbrev(rate: str) -> str:
    """'false_negative_rate' -> 'FNR'."""
    return "".join(w[0] for w in rate.split("_")).upper() if rate.endswith("_rate") else rate_title(rate)


def metric_title(task: str, reported: str, unit: str = "") -> str:
    """How the report titles a reported metric: 'AUC', 'recall (Gentoo)', 'MAE (mpg)',
    'false negative rate @ 0.5 (cat)'."""
    parsed = parse_rate(reported)
    if parsed:
        rate, threshold, cls = parsed
        return f"{rate_title(rate)} @ {threshold}" + (f" ({cls})" if cls else "")
    base, _, cls = reported.partition("[")
    d = {m.reported: m for m in task_metrics(task)}.get(base)
    title = d.label if d else base.replace("_", " ")
    if cls:
        return f"{title} ({cls.rstrip(']')})"
    if unit and metric_kind(task, base) == "unit":
        return f"{title} ({metric_unit(base, unit)})"
    return title


def config_metric(task: str, name: str) -> tuple[str, str]:
    """A config metric name ('AUC', 'MeanAbsoluteError') -> (its title, its number kind)."""
    d = {m.name: m for m in task_metrics(task)}.get(name)
    if d is None:
        return name, "metric"
    return d.label, metric_kind(task, d.reported)


def fairness_thresholds(metrics: dict) -> list[str]:
    """The decision thresholds Fairness Indicators reported at, as it prints them ('0.5')."""
    found = {p[1] for p in map(parse_rate, (m for m in metrics if m.startswith(FAIRNESS_PREFIX))) if p}
    return sorted(found, key=float)


def slice_threshold(b: dict) -> str:
    """The decision threshold the slices show: the fairness gate's, else 0.5, else the first."""
    thresholds = fairness_thresholds(b["overall_metrics"]) or ["0.5"]
    gate_rate = parse_rate((b.get("fairness_check") or {}).get("metric", ""))
    if gate_rate and gate_rate[1] in thresholds:
        return gate_rate[1]
    return "0.5" if "0.5" in thresholds else thresholds[0]


def error_metric(b: dict) -> str:
    """Regression: the error metric drawn and tabled per group, the gate's if it is an error, else MAE."""
    metric = (b.get("fairness_check") or {}).get("metric")
    return metric if metric in GAP_METRICS else "mean_absolute_error"
