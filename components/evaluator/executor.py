"""Evaluator: TFMA on the eval split, overall and per configured slice (single-feature and
cross slices), with FairnessIndicators rates at the configured decision thresholds.

The blessing needs every check to pass:
- value thresholds on the candidate's overall metrics;
- change thresholds against the baseline, the latest blessed model in the registry
  (resolver.latest_blessed_model). TFMA evaluates candidate and baseline together (two
  ModelSpecs, the baseline with is_baseline=True). A first run (no baseline) is judged by
  value thresholds alone, and blessing.json says so;
- the fairness gate: the gap (largest minus smallest) of one FairnessIndicators rate over
  the groups of one slice feature that have enough examples;
- TFMA's own validation result, which must agree with the threshold checks above.

Outputs keep TFX's layouts: a TFMA output directory (tfma.load_eval_result reads it; with a
baseline, pass model_name="candidate" or "baseline") and a blessing directory holding an
empty BLESSED or NOT_BLESSED file, plus blessing.json with every check and the numbers
behind it.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field

import tensorflow as tf
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.slicer import slicer_lib as slicer
from tensorflow_model_analysis.writers import eval_config_writer, metrics_plots_and_validations_writer

from components.common.io import examples_pattern, log, read_json, step, write_json, write_text
from components.schema_gen.executor import load_schema
from components.evaluator.resolver import Baseline, latest_blessed_model
from pipelines.config import KNOWN_METRICS, ChangeThreshold, FairnessGate, PipelineConfig, Threshold

BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
CANDIDATE, BASELINE = "candidate", "baseline"  # TFMA model names
FAIRNESS_MODULE = "fairness_indicators.fairness_indicators_metrics"  # registers FairnessIndicators
FAIRNESS_NAME = "fairness_indicators_metrics"
# Computed on every slice; the value thresholds may name any of them.
METRICS = list(KNOWN_METRICS)
PLOTS = ["CalibrationPlot", "ConfusionMatrixPlot"]
# TFMA divides by zero on empty confusion-matrix cells and warns on each; the NaNs are fine.
warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")


def metric_name(class_name: str) -> str:
    """TFMA reports a metric under its default name (AUC -> 'auc')."""
    return getattr(tfma.metrics, class_name)().name


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
    metric: str  # e.g. false_negative_rate@0.5
    max_gap: float
    min_examples: int
    groups: list[FairnessGroup]
    gap: float | None  # largest minus smallest value over the counted groups
    largest: str | None  # the groups that make the gap
    smallest: str | None
    passed: bool


@dataclass
class Blessing:
    blessed: bool
    checks: list[Check]
    overall_metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    # The baseline the candidate was judged against: {"version", "path"}; None on a first run.
    baseline: dict | None = None
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    baseline_slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    change_checks: list[ChangeCheck] = field(default_factory=list)
    fairness_check: FairnessCheck | None = None
    # Slices left without metrics because they have fewer than min_slice_size examples.
    suppressed_slices: list[str] = field(default_factory=list)
    # Confidence intervals per slice and metric, when evaluation.confidence_intervals is on.
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED


def fairness_metric_name(metric: str, threshold: float, thresholds: list[float]) -> str:
    """The name FairnessIndicators reports a rate under, e.g. 'fairness_indicators_metrics/
    false_negative_rate@0.5' (its digits depend on all the thresholds configured)."""
    from fairness_indicators.fairness_indicators_metrics import calculate_digits

    return f"{FAIRNESS_NAME}/{metric}@{threshold:.{calculate_digits(thresholds)}f}"


def _metric_threshold(bounds: Threshold) -> tfma.MetricThreshold:
    value = tfma.GenericValueThreshold()
    if bounds.lower_bound is not None:
        value.lower_bound.value = bounds.lower_bound
    if bounds.upper_bound is not None:
        value.upper_bound.value = bounds.upper_bound
    return tfma.MetricThreshold(value_threshold=value)


def _change_threshold(bounds: ChangeThreshold) -> tfma.MetricThreshold:
    direction = (tfma.MetricDirection.HIGHER_IS_BETTER if bounds.direction == "higher_is_better"
                 else tfma.MetricDirection.LOWER_IS_BETTER)
    change = tfma.GenericChangeThreshold(direction=direction)
    change.absolute.value = bounds.absolute
    return tfma.MetricThreshold(change_threshold=change)


def slicing_features(config: PipelineConfig) -> list[list[str]]:
    """The configured slices, plus the fairness gate's feature when no slice has it alone."""
    slices = [list(s) for s in config.evaluation.slices]
    gate = config.evaluation.fairness_gate
    if gate and [gate.feature] not in slices:
        slices.append([gate.feature])
    return slices


def make_eval_config(config: PipelineConfig, thresholds: dict[str, Threshold],
                     with_baseline: bool = False) -> tfma.EvalConfig:
    evaluation = config.evaluation
    change = evaluation.change_thresholds if with_baseline else {}
    metrics = []
    for name in METRICS + PLOTS:
        metric = tfma.MetricConfig(class_name=name)
        # MetricConfig.threshold would gate every slice, tiny ones included; the config's
        # thresholds are on the overall slice. TFMA never checks the baseline's own values.
        for bounds in ([_metric_threshold(thresholds[name])] if name in thresholds else []) + \
                ([_change_threshold(change[name])] if name in change else []):
            metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()], threshold=bounds))
        metrics.append(metric)
    metrics.append(tfma.MetricConfig(class_name="FairnessIndicators", module=FAIRNESS_MODULE,
                                     config=json.dumps({"thresholds": list(evaluation.fairness_thresholds)})))
    spec = dict(signature_name="serving_default", label_key=config.label.name, prediction_key="probabilities")
    model_specs = [tfma.ModelSpec(name=CANDIDATE, **spec)]
    if with_baseline:
        model_specs.append(tfma.ModelSpec(name=BASELINE, is_baseline=True, **spec))
    options = tfma.Options(include_default_metrics={"value": False},
                           compute_confidence_intervals={"value": evaluation.confidence_intervals},
                           min_slice_size={"value": evaluation.min_slice_size})
    return tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=s) for s in slicing_features(config)],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        # Only the metrics above: the Keras model's compiled metrics would shadow TFMA's names.
        options=options)


def _flatten(metrics: dict, intervals: dict | None = None) -> dict[str, float]:
    """TFMA's {output: {sub_key: {metric: {'doubleValue': v}}}} -> {metric: v}. With
    confidence intervals a value is {'boundedValue': {'value', 'lowerBound', 'upperBound'}};
    the bounds go to `intervals` as [lower, upper]."""
    flat = {}
    for by_sub_key in metrics.values():
        for values in by_sub_key.values():
            for name, value in values.items():
                if not isinstance(value, dict):
                    continue
                if "doubleValue" in value:
                    flat[name] = float(value["doubleValue"])
                elif "boundedValue" in value and "value" in value["boundedValue"]:
                    bounded = value["boundedValue"]
                    flat[name] = float(bounded["value"])
                    if intervals is not None and "lowerBound" in bounded and "upperBound" in bounded:
                        intervals[name] = [float(bounded["lowerBound"]), float(bounded["upperBound"])]
    return flat


def slice_name(slice_key: tuple) -> str:
    return "Overall" if not slice_key else " x ".join(f"{k}={v}" for k, v in slice_key)


@dataclass
class EvalMetrics:
    by_slice: dict[str, dict[str, float]]
    suppressed: list[str]  # slices under min_slice_size: TFMA left them without metrics
    intervals: dict[str, dict[str, list[float]]]
    keys: dict[str, tuple]  # slice name -> TFMA slice key, e.g. (("payment_type", "Cash"),)


def load_metrics(evaluation_dir: str, model_name: str | None = None) -> EvalMetrics:
    """One model's metrics per slice: model_name is CANDIDATE (the default) or BASELINE when
    the evaluation had a baseline (TFMA keys metrics by model then); ignored for a single model."""
    models = eval_config_writer.load_eval_run(evaluation_dir)[3]  # model name -> location
    if len(models) < 2:
        model_name = None  # a single model's metrics are keyed without its name
    elif model_name is None:
        model_name = CANDIDATE
    by_slice, suppressed, intervals, keys = {}, [], {}, {}
    # Slices under min_slice_size hold only TFMA's error message, under no model name.
    for proto in metrics_plots_and_validations_writer.load_and_deserialize_metrics(evaluation_dir):
        if tfma_constants.ERROR_METRIC_NAME in proto.metrics and not proto.HasField("cross_slice_key"):
            key = tuple(slicer.deserialize_slice_key(proto.slice_key))
            suppressed.append(slice_name(key))
            keys[slice_name(key)] = key
    result = tfma.load_eval_result(evaluation_dir, model_name=model_name)
    for key, metrics in result.slicing_metrics:
        name = slice_name(key)
        if name in suppressed:
            continue
        keys[name] = tuple(key)
        slice_intervals = {}
        flat = _flatten(metrics, slice_intervals)
        # With a baseline TFMA adds candidate-minus-baseline '<metric>_diff' values; the
        # change checks hold the ones that matter, and the baseline's own values are read apart.
        flat = {k: v for k, v in flat.items() if not k.endswith("_diff")}
        slice_intervals = {k: v for k, v in slice_intervals.items() if not k.endswith("_diff")}
        by_slice[name] = flat
        if slice_intervals:
            intervals[name] = slice_intervals
    return EvalMetrics(by_slice, suppressed, intervals, keys)


def judge(overall: dict[str, float], thresholds: dict[str, Threshold]) -> list[Check]:
    checks = []
    for name, bounds in sorted(thresholds.items()):
        value = overall.get(metric_name(name))
        ok = value is not None \
            and (bounds.lower_bound is None or value >= bounds.lower_bound) \
            and (bounds.upper_bound is None or value <= bounds.upper_bound)
        checks.append(Check(name, value, bounds.lower_bound, bounds.upper_bound, ok))
    return checks


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def judge_changes(candidate: dict[str, float], baseline: dict[str, float],
                  thresholds: dict[str, ChangeThreshold]) -> list[ChangeCheck]:
    checks = []
    for name, bounds in sorted(thresholds.items()):
        key = metric_name(name)
        new, old = _finite(candidate.get(key)), _finite(baseline.get(key))
        change = None if new is None or old is None else new - old
        ok = change is not None and (change >= bounds.absolute if bounds.direction == "higher_is_better"
                                     else change <= bounds.absolute)
        checks.append(ChangeCheck(name, new, old, change, bounds.direction, bounds.absolute, ok))
    return checks


def judge_fairness(metrics: EvalMetrics, gate: FairnessGate, thresholds: list[float]) -> FairnessCheck:
    """The gap of the gate's metric over the groups (values of gate.feature) that have at
    least gate.min_examples examples and a defined value."""
    name = fairness_metric_name(gate.metric, gate.threshold, thresholds)
    groups = []
    for slice_, key in metrics.keys.items():
        if len(key) != 1 or key[0][0] != gate.feature:
            continue
        values = metrics.by_slice.get(slice_)
        if values is None:  # under min_slice_size: TFMA kept no metrics
            groups.append(FairnessGroup(str(key[0][1]), None, None, False))
            continue
        value = _finite(values.get(name))
        count = int(values.get("example_count", 0))
        groups.append(FairnessGroup(str(key[0][1]), value, count, value is not None and count >= gate.min_examples))
    groups.sort(key=lambda g: g.group)
    counted = [g for g in groups if g.counted]
    if counted:
        hi, lo = max(counted, key=lambda g: g.value), min(counted, key=lambda g: g.value)
        gap, largest, smallest = hi.value - lo.value, hi.group, lo.group
    else:
        gap = largest = smallest = None
    # No group at all: the feature is not in the eval data (a misspelled name must not pass).
    # Groups, but fewer than two comparable ones: there is no gap to measure, nothing to withhold.
    passed = bool(groups) and (gap is None or gap <= gate.max_gap)
    return FairnessCheck(gate.feature, name.split("/", 1)[1], gate.max_gap, gate.min_examples, groups, gap,
                         largest, smallest, passed)


def tfma_validation_ok(evaluation_dir: str) -> bool:
    """TFMA's validation result on the overall slice, the only slice the thresholds are set on.
    TFMA 0.47.1 also reports "Metric not found" on every slice that min_slice_size left without
    metrics (its pass over unchecked thresholds ignores the slicing spec), so failures on
    other slices are not failures of these thresholds."""
    result = tfma.load_validation_result(evaluation_dir)
    return result.validation_ok or not any(
        not v.HasField("cross_slice_key") and not v.slice_key.single_slice_keys
        for v in result.metric_validations_per_slice)


def run(config: PipelineConfig, model_dir: str, examples_dir: str, schema_dir: str,
        evaluation_dir: str, blessing_dir: str,
        thresholds: dict[str, Threshold] | None = None, registry: str | None = None) -> Blessing:
    """registry: where to look for the baseline (default: config.push.registry)."""
    evaluation = config.evaluation
    thresholds = evaluation.value_thresholds if thresholds is None else thresholds
    registry = registry or config.push.registry
    baseline: Baseline | None = latest_blessed_model(registry, config.model_name)
    eval_config = make_eval_config(config, thresholds, with_baseline=baseline is not None)
    models = [tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=eval_config,
                                             model_name=CANDIDATE)]
    if baseline:
        models.append(tfma.default_eval_shared_model(eval_saved_model_path=baseline.path, eval_config=eval_config,
                                                     model_name=BASELINE))
    with step(f"Evaluator: TFMA on the eval split ({'candidate and baseline' if baseline else 'candidate'})"):
        tfma.run_model_analysis(
            eval_shared_model=models if baseline else models[0], eval_config=eval_config,
            data_location=examples_pattern(examples_dir, "eval"), file_format="tfrecords",
            output_path=evaluation_dir, schema=load_schema(schema_dir),
            pipeline_options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"]))
    candidate = load_metrics(evaluation_dir, CANDIDATE)
    by_slice = dict(candidate.by_slice)
    overall = by_slice.pop("Overall")
    checks = judge(overall, thresholds)
    reasons = [f"{c.metric} = {c.value if c.value is None else round(c.value, 4)} is outside "
               f"[{c.lower_bound}, {c.upper_bound}]" for c in checks if not c.passed]
    notes, change_checks, baseline_metrics, baseline_slices = [], [], {}, {}
    if baseline:
        baseline_slices = dict(load_metrics(evaluation_dir, BASELINE).by_slice)
        baseline_metrics = baseline_slices.pop("Overall")
        change_checks = judge_changes(overall, baseline_metrics, evaluation.change_thresholds)
        reasons += [f"{c.metric} changed by {c.change if c.change is None else round(c.change, 4)} against "
                    f"baseline version {baseline.version} ({c.direction}, limit {c.absolute})"
                    for c in change_checks if not c.passed]
        notes.append(f"judged against the baseline: version {baseline.version} in the registry ({baseline.path})")
    else:
        notes.append(f"first run: no blessed {config.model_name} in the registry ({registry}); judged by value "
                     "thresholds" + (" and the fairness gate" if evaluation.fairness_gate else "")
                     + " alone, change thresholds not applied")
    fairness = None
    if evaluation.fairness_gate:
        fairness = judge_fairness(candidate, evaluation.fairness_gate, evaluation.fairness_thresholds)
        if not fairness.groups:
            reasons.append(f"fairness gate: no {fairness.feature} groups in the eval data")
        elif not fairness.passed:
            reasons.append(f"fairness gate: {fairness.metric} differs by {fairness.gap:.4f} between "
                           f"{fairness.feature}={fairness.largest} and {fairness.feature}={fairness.smallest} "
                           f"(max gap {fairness.max_gap}, groups with >= {fairness.min_examples} examples)")
        elif fairness.gap is None or fairness.largest == fairness.smallest:
            notes.append(f"fairness gate: fewer than two {fairness.feature} groups with >= "
                         f"{fairness.min_examples} examples and a defined {fairness.metric}; no gap to measure")
    # TFMA's own validation (value and change thresholds) must agree with our reading.
    tfma_ok = tfma_validation_ok(evaluation_dir)
    if not tfma_ok and all(c.passed for c in checks + change_checks):
        reasons.append("TFMA's validation result is not OK (see validations in the evaluation output)")
    blessed = tfma_ok and not reasons
    blessing = Blessing(blessed, checks, overall, by_slice, reasons,
                        baseline={"version": baseline.version, "path": baseline.path} if baseline else None,
                        baseline_metrics=baseline_metrics, baseline_slice_metrics=baseline_slices, change_checks=change_checks, fairness_check=fairness,
                        suppressed_slices=candidate.suppressed, intervals=candidate.intervals, notes=notes)
    write_blessing(blessing_dir, blessing)
    log.info("Evaluator: %s; overall AUC %.4f on %d examples%s%s", blessing.decision,
             overall.get("auc", float("nan")), int(overall.get("example_count", 0)),
             f" (baseline AUC {baseline_metrics.get('auc', float('nan')):.4f})" if baseline else " (no baseline)",
             "" if blessed else "; " + "; ".join(reasons))
    return blessing


def write_blessing(blessing_dir: str, blessing: Blessing) -> None:
    tf.io.gfile.makedirs(blessing_dir)
    with tf.io.gfile.GFile(os.path.join(blessing_dir, blessing.decision), "w") as f:
        f.write("")  # GFile creates nothing until written to
    payload = asdict(blessing) | {"decision": blessing.decision}
    write_json(os.path.join(blessing_dir, "blessing.json"), payload)


def is_blessed(blessing_dir: str) -> bool:
    blessed = tf.io.gfile.exists(os.path.join(blessing_dir, BLESSED))
    not_blessed = tf.io.gfile.exists(os.path.join(blessing_dir, NOT_BLESSED))
    if blessed == not_blessed:
        raise ValueError(f"{blessing_dir}: expected exactly one of {BLESSED} / {NOT_BLESSED}")
    return blessed


def write_reports(blessing_dir: str, html_path: str, markdown_path: str, config: PipelineConfig,
                  statistics_dir: str | None = None, anomalies_dir: str | None = None) -> None:
    """The stakeholders' report (self-contained HTML) and a Markdown summary, from blessing.json
    and the run's TFDV statistics and anomalies."""
    from components.evaluator import report

    blessing = read_json(os.path.join(blessing_dir, "blessing.json"))
    run = {"model": config.model_name, "pipeline": config.pipeline_name, "data": config.data.source}
    summary = report.data_summary(statistics_dir, anomalies_dir, [s.name for s in config.split.splits])
    write_text(html_path, report.render_html(blessing, run, summary))
    write_text(markdown_path, report.render_markdown(blessing, run))


def classification_curves(evaluation_dir: str, with_baseline: bool = False, points: int = 101) -> dict:
    """From TFMA's overall ConfusionMatrixPlot of the candidate: an ROC curve (about `points`
    thresholds) and the confusion matrix at 0.5, for KFP's ClassificationMetrics (the KFP UI
    draws both). With a baseline TFMA keys plots by model name."""
    result = tfma.load_eval_result(evaluation_dir, model_name=CANDIDATE if with_baseline else None)
    overall = next((plots for key, plots in result.plots if key == ()), None)
    if overall is None:
        raise ValueError(f"{evaluation_dir}: no overall ConfusionMatrixPlot in the TFMA output")
    matrices = next(iter(next(iter(overall.values())).values()))["confusionMatrixAtThresholds"]["matrices"]
    step_size = max(1, len(matrices) // (points - 1))
    roc = [m for i, m in enumerate(matrices) if i % step_size == 0 or i == len(matrices) - 1]
    counts = lambda m, k: int(m.get(k, 0))  # noqa: E731 (TFMA omits zero counts)
    at_half = min(matrices, key=lambda m: abs(m.get("threshold", 0.0) - 0.5))
    return {
        "fpr": [float(m.get("falsePositiveRate", 0.0)) for m in roc],
        "tpr": [float(m.get("recall", 0.0)) for m in roc],
        "thresholds": [float(m.get("threshold", 0.0)) for m in roc],  # 0 is omitted in the JSON
        "matrix": [[counts(at_half, "trueNegatives"), counts(at_half, "falsePositives")],
                   [counts(at_half, "falseNegatives"), counts(at_half, "truePositives")]],
    }
