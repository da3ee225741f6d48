"""The checks a blessing needs, read from TFMA's metrics: value thresholds, change thresholds
against the baseline, and the fairness gate (the gap of one metric between groups)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.evaluator.tfma_config import EvalMetrics, fairness_metric_name
from contracts.config import ChangeThreshold, FairnessGate, PipelineConfig, Threshold
from contracts.metrics import per_class_key, reported_name


@dataclass
class Check:
    """A value threshold on the candidate's overall metric."""

    metric: str
    value: float | None
    lower_bound: float | None
    upper_bound: float | None
    passed: bool


@dataclass
class ChangeCheck:
    """A change threshold: candidate minus baseline, on the overall slice."""

    metric: str
    candidate: float | None
    baseline: float | None
    change: float | None
    direction: str
    absolute: float
    passed: bool


@dataclass
class FairnessGroup:
    group: str
    value: float | None  # None: undefined on this group (e.g. FNR with no positive example)
    example_count: int | None  # None: under min_slice_size, TFMA reports no metrics
    counted: bool  # enough examples, and a value: part of the gap


@dataclass
class FairnessCheck:
    feature: str
    metric: str  # e.g. false_negative_rate@0.5, false_negative_rate@0.5[Gentoo], mean_absolute_error
    max_gap: float
    min_examples: int
    groups: list[FairnessGroup]
    gap: float | None  # largest minus smallest value over the counted groups
    largest: str | None  # the groups that make the gap
    smallest: str | None
    passed: bool
    measured: bool = True  # False: fewer than two groups to compare, nothing was measured
    when_unmeasurable: str = "fail"
    threshold: float | None = None  # classification: the decision threshold
    class_name: str = ""  # multiclass: the class compared one-vs-rest


def finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def judge(config: PipelineConfig, overall: dict[str, float], thresholds: dict[str, Threshold]) -> list[Check]:
    checks = []
    for name, bounds in sorted(thresholds.items()):
        value = finite(overall.get(reported_name(config.label.task, name)))
        ok = (
            value is not None
            and (bounds.lower_bound is None or value >= bounds.lower_bound)
            and (bounds.upper_bound is None or value <= bounds.upper_bound)
        )
        checks.append(Check(name, value, bounds.lower_bound, bounds.upper_bound, ok))
    return checks


def judge_changes(
    config: PipelineConfig,
    candidate: dict[str, float],
    baseline: dict[str, float],
    thresholds: dict[str, ChangeThreshold],
) -> list[ChangeCheck]:
    checks = []
    for name, bounds in sorted(thresholds.items()):
        key = reported_name(config.label.task, name)
        new, old = finite(candidate.get(key)), finite(baseline.get(key))
        change = None if new is None or old is None else new - old
        ok = change is not None and (
            change >= bounds.absolute if bounds.direction == "higher_is_better" else change <= bounds.absolute
        )
        checks.append(ChangeCheck(name, new, old, change, bounds.direction, bounds.absolute, ok))
    return checks


def gate_metric_key(config: PipelineConfig, gate: FairnessGate) -> str:
    """The flat metric key the gate compares between groups."""
    if config.label.task == "regression":
        return gate.metric
    key = fairness_metric_name(gate.metric, gate.threshold, config.evaluation.fairness_thresholds)
    return per_class_key(key, gate.class_name) if config.label.task == "multiclass" else key


def judge_fairness(config: PipelineConfig, metrics: EvalMetrics) -> FairnessCheck:
    """The gap of the gate's metric over the groups (values of gate.feature) that have at
    least gate.min_examples examples and a defined value."""
    gate = config.evaluation.fairness_gate
    key = gate_metric_key(config, gate)
    groups = []
    for slice_, slice_key in metrics.keys.items():
        if len(slice_key) != 1 or slice_key[0][0] != gate.feature:
            continue
        values = metrics.by_slice.get(slice_)
        if values is None:  # under min_slice_size: TFMA kept no metrics
            groups.append(FairnessGroup(str(slice_key[0][1]), None, None, False))
            continue
        value = finite(values.get(key))
        count = int(values.get("example_count", 0))
        groups.append(
            FairnessGroup(str(slice_key[0][1]), value, count, value is not None and count >= gate.min_examples)
        )
    groups.sort(key=lambda g: g.group)
    counted = [g for g in groups if g.counted]
    common = dict(
        feature=gate.feature,
        metric=key.split("/", 1)[1] if "/" in key else key,
        max_gap=gate.max_gap,
        min_examples=gate.min_examples,
        groups=groups,
        when_unmeasurable=gate.when_unmeasurable,
        threshold=None if config.label.task == "regression" else gate.threshold,
        class_name=gate.class_name,
    )
    if len(counted) < 2:
        # Nothing to compare: a gate that measured nothing must not pass silently.
        return FairnessCheck(
            **common,
            gap=None,
            largest=None,
            smallest=None,
            passed=bool(groups) and gate.when_unmeasurable == "pass",
            measured=False,
        )
    hi, lo = max(counted, key=lambda g: g.value), min(counted, key=lambda g: g.value)
    return FairnessCheck(
        **common,
        gap=hi.value - lo.value,
        largest=hi.group,
        smallest=lo.group,
        passed=hi.value - lo.value <= gate.max_gap,
    )


def fairness_reason(check: FairnessCheck) -> str | None:
    """Why the gate withholds the blessing, or None."""
    if check.passed:
        return None
    if not check.groups:
        return f"fairness gate: no {check.feature} groups in the eval data"
    if not check.measured:
        counted = sum(g.counted for g in check.groups)
        have = "has" if counted == 1 else "have"
        return (
            f"fairness gate: nothing to measure: {counted} of {len(check.groups)} {check.feature} groups {have} "
            f">= {check.min_examples} examples and a defined {check.metric}; two are needed "
            "(fairness_gate.when_unmeasurable: pass would bless without it)"
        )
    return (
        f"fairness gate: {check.metric} differs by {check.gap:.4f} between {check.feature}={check.largest} and "
        f"{check.feature}={check.smallest} (max gap {check.max_gap}, groups with >= {check.min_examples} examples)"
    )
