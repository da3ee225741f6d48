"""The TFMA EvalConfig for a task, and reading TFMA's output back into flat per-slice
{metric: value} dicts (contracts/metrics.py names them)."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants as tfma_constants
from tensorflow_model_analysis.slicer import slicer_lib as slicer
from tensorflow_model_analysis.view import util as view_util
from tensorflow_model_analysis.writers import eval_config_writer, metrics_plots_and_validations_writer

from contracts.config import ChangeThreshold, PipelineConfig, Threshold
from contracts.metrics import METRICS, PER_CLASS_METRICS, MetricDef, fairness_key, per_class_key
from contracts.signatures import PREDICTION_KEY, SERVING_DEFAULT

CANDIDATE, BASELINE = "candidate", "baseline"  # TFMA model names
FAIRNESS_MODULE = "fairness_indicators.fairness_indicators_metrics"  # registers FairnessIndicators
ROC_POINTS = 101  # thresholds 0, 0.01, ..., 1 (0.5 among them)
# TFMA divides by zero on empty confusion-matrix cells and warns on each; the NaNs are fine.
warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")


def fairness_metric_name(metric: str, threshold: float, thresholds: list[float]) -> str:
    """The name Fairness Indicators reports a rate under, e.g. 'fairness_indicators_metrics/
    false_negative_rate@0.5' (its digits depend on all the thresholds configured)."""
    from fairness_indicators.fairness_indicators_metrics import calculate_digits

    return fairness_key(metric, f"{threshold:.{calculate_digits(thresholds)}f}")


def _value_threshold(bounds: Threshold) -> tfma.MetricThreshold:
    value = tfma.GenericValueThreshold()
    if bounds.lower_bound is not None:
        value.lower_bound.value = bounds.lower_bound
    if bounds.upper_bound is not None:
        value.upper_bound.value = bounds.upper_bound
    return tfma.MetricThreshold(value_threshold=value)


def _change_threshold(bounds: ChangeThreshold) -> tfma.MetricThreshold:
    direction = (
        tfma.MetricDirection.HIGHER_IS_BETTER
        if bounds.direction == "higher_is_better"
        else tfma.MetricDirection.LOWER_IS_BETTER
    )
    change = tfma.GenericChangeThreshold(direction=direction)
    change.absolute.value = bounds.absolute
    return tfma.MetricThreshold(change_threshold=change)


def _metric_config(m: MetricDef, value: dict[str, Threshold], change: dict[str, ChangeThreshold]) -> tfma.MetricConfig:
    metric = tfma.MetricConfig(
        class_name=m.tfma_class, module=m.module, config=json.dumps({"name": m.reported}) if m.module else ""
    )
    # MetricConfig.threshold would gate every slice, tiny ones included; the config's
    # thresholds are on the overall slice. TFMA never checks the baseline's own values.
    bounds = ([_value_threshold(value[m.name])] if m.name in value else []) + (
        [_change_threshold(change[m.name])] if m.name in change else []
    )
    for b in bounds:
        metric.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=b)
        )
    return metric


def _roc_plot() -> tfma.MetricConfig:
    # The KFP UI's ROC curve (binary_curves); TFMA's default of 1000 thresholds costs every
    # slice a 1000-point plot to compute, write and read back.
    return tfma.MetricConfig(class_name="ConfusionMatrixPlot", config=json.dumps({"num_thresholds": ROC_POINTS}))


def _fairness(thresholds: list[float]) -> tfma.MetricConfig:
    return tfma.MetricConfig(
        class_name="FairnessIndicators", module=FAIRNESS_MODULE, config=json.dumps({"thresholds": list(thresholds)})
    )


def metrics_specs(
    config: PipelineConfig, thresholds: dict[str, Threshold], classes: list[str], with_baseline: bool
) -> list[tfma.MetricsSpec]:
    """The task's metrics for every model, then what only the candidate needs (Fairness
    Indicators, per-class metrics, the plot the KFP UI draws): the baseline is compared on the
    task's metrics alone, and every metric TFMA computes for a model costs it per example and slice."""
    task, evaluation = config.label.task, config.evaluation
    change = evaluation.change_thresholds if with_baseline else {}
    plain = [_metric_config(m, thresholds, change) for m in METRICS[task] if not m.aggregate]
    if task == "regression":
        return [tfma.MetricsSpec(metrics=plain)]
    if task == "binary":
        candidate = [_roc_plot(), _fairness(evaluation.fairness_thresholds)]
        if not with_baseline:
            return [tfma.MetricsSpec(metrics=plain + candidate)]
        return [tfma.MetricsSpec(metrics=plain), tfma.MetricsSpec(metrics=candidate, model_names=[CANDIDATE])]
    ids = list(range(len(classes)))
    weights = {i: 1.0 for i in ids}
    only = {"model_names": [CANDIDATE]} if with_baseline else {}
    specs = [
        tfma.MetricsSpec(metrics=plain),
        tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")], **only),
        # One-vs-rest per class; Fairness Indicators cannot be averaged, so it lives here.
        tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name=n) for n in PER_CLASS_METRICS]
            + [_fairness(evaluation.fairness_thresholds)],
            binarize=tfma.BinarizationOptions(class_ids={"values": ids}),
            **only,
        ),
    ]
    for kind in ("macro", "micro"):
        averaged = [_metric_config(m, thresholds, change) for m in METRICS[task] if m.aggregate == kind]
        specs.append(
            tfma.MetricsSpec(
                metrics=averaged, aggregate=tfma.AggregationOptions(**{f"{kind}_average": True}, class_weights=weights)
            )
        )
    return specs


def make_eval_config(
    config: PipelineConfig,
    thresholds: dict[str, Threshold],
    classes: list[str] | None = None,
    with_baseline: bool = False,
) -> tfma.EvalConfig:
    evaluation = config.evaluation
    spec = dict(
        signature_name=SERVING_DEFAULT,
        label_key=config.label.name,
        prediction_key=PREDICTION_KEY[config.label.task],
        # A SavedModel called through its signature: without a type TFMA loads each model as
        # a Keras model once more only to find out what it is, and Keras loading is the slow one.
        model_type=tfma_constants.TF_GENERIC,
    )
    model_specs = [tfma.ModelSpec(name=CANDIDATE, **spec)]
    if with_baseline:
        model_specs.append(tfma.ModelSpec(name=BASELINE, is_baseline=True, **spec))
    return tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=s) for s in config.slices],
        metrics_specs=metrics_specs(config, thresholds, classes or [], with_baseline),
        # Only the metrics above: the Keras model's compiled metrics would shadow TFMA's names.
        options=tfma.Options(
            include_default_metrics={"value": False},
            compute_confidence_intervals={"value": evaluation.confidence_intervals},
            min_slice_size={"value": evaluation.min_slice_size},
        ),
    )


_AVERAGED = re.compile(r"^(macro|micro)_average: true\n_(.+)$")
_CLASS_ID = re.compile(r"^classId:(\d+)$")


def _name(metric: str, sub_key: str, classes: list[str]) -> str:
    """TFMA's (sub key, metric) -> the reported name: 'macro_auc', 'recall[Gentoo]', 'auc'."""
    m = _AVERAGED.match(metric)
    if m:
        metric = f"{m.group(1)}_{m.group(2)}"
    if not sub_key:
        return metric
    c = _CLASS_ID.match(sub_key)
    if c and int(c.group(1)) < len(classes):
        return per_class_key(metric, classes[int(c.group(1))])
    return per_class_key(metric, sub_key)


def flatten(metrics: dict, classes: list[str], intervals: dict | None = None) -> dict[str, float]:
    """TFMA's {output: {sub_key: {metric: {'doubleValue': v}}}} -> {name: v}. With
    confidence intervals a value is {'boundedValue': {'value', 'lowerBound', 'upperBound'}};
    the bounds go to `intervals` as [lower, upper]."""
    flat = {}
    for by_sub_key in metrics.values():
        for sub_key, values in by_sub_key.items():
            for metric, value in values.items():
                if not isinstance(value, dict):
                    continue
                name = _name(metric, sub_key, classes)
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


def load_metrics(evaluation_dir: str, classes: list[str], model_name: str | None = None) -> EvalMetrics:
    """One model's metrics per slice: model_name is CANDIDATE (the default) or BASELINE when
    the evaluation had a baseline (TFMA keys metrics by model then); ignored for a single model.
    Reads the metrics alone, as tfma.load_eval_result does, without converting every slice's plots."""
    models = eval_config_writer.load_eval_run(evaluation_dir)[3]  # model name -> location
    if len(models) < 2:
        model_name = None  # a single model's metrics are keyed without its name
    elif model_name is None:
        model_name = CANDIDATE
    by_slice, suppressed, intervals, keys = {}, [], {}, {}
    for proto in metrics_plots_and_validations_writer.load_and_deserialize_metrics(evaluation_dir):
        if proto.HasField("cross_slice_key"):
            continue
        key = tuple(slicer.deserialize_slice_key(proto.slice_key))
        name = slice_name(key)
        keys[name] = key
        # Slices under min_slice_size hold only TFMA's error message, under no model name.
        if tfma_constants.ERROR_METRIC_NAME in proto.metrics:
            suppressed.append(name)
            continue
        converted = view_util.convert_metrics_proto_to_dict(proto, model_name=model_name)
        if converted is None:
            continue
        slice_intervals = {}
        flat = flatten(converted[1], classes, slice_intervals)
        # With a baseline TFMA adds candidate-minus-baseline '<metric>_diff' values; the
        # change checks hold the ones that matter, and the baseline's own values are read apart.
        by_slice[name] = {k: v for k, v in flat.items() if "_diff" not in k}
        slice_intervals = {k: v for k, v in slice_intervals.items() if "_diff" not in k}
        if slice_intervals:
            intervals[name] = slice_intervals
    return EvalMetrics(by_slice, suppressed, intervals, keys)


def tfma_validation_ok(evaluation_dir: str) -> bool:
    """TFMA's validation result on the overall slice, the only slice the thresholds are set on.
    TFMA 0.47.1 also reports "Metric not found" on every slice that min_slice_size left without
    metrics (its pass over unchecked thresholds ignores the slicing spec), so failures on
    other slices are not failures of these thresholds."""
    result = tfma.load_validation_result(evaluation_dir)
    return result.validation_ok or not any(
        not v.HasField("cross_slice_key") and not v.slice_key.single_slice_keys
        for v in result.metric_validations_per_slice
    )


def overall_plots(evaluation_dir: str, with_baseline: bool) -> dict:
    """The candidate's overall plots, keyed by plot name (only the overall slice's are converted)."""
    for proto in metrics_plots_and_validations_writer.load_and_deserialize_plots(evaluation_dir):
        if proto.HasField("cross_slice_key") or proto.slice_key.single_slice_keys:
            continue
        converted = view_util.convert_plots_proto_to_dict(proto, model_name=CANDIDATE if with_baseline else None)
        if converted is None:
            break
        found = {}
        for by_sub_key in converted[1].values():
            for sub_key, plots in by_sub_key.items():
                if not sub_key:
                    found.update(plots)
        return found
    raise ValueError(f"{evaluation_dir}: no overall plots in the TFMA output")


def binary_curves(evaluation_dir: str, with_baseline: bool = False, points: int = 101) -> dict:
    """From TFMA's overall ConfusionMatrixPlot: an ROC curve (about `points` thresholds) and
    the confusion matrix at 0.5, for KFP's ClassificationMetrics (the KFP UI draws both)."""
    matrices = overall_plots(evaluation_dir, with_baseline)["confusionMatrixAtThresholds"]["matrices"]
    step_size = max(1, len(matrices) // (points - 1))
    roc = [m for i, m in enumerate(matrices) if i % step_size == 0 or i == len(matrices) - 1]
    counts = lambda m, k: int(m.get(k, 0))  # noqa: E731 (TFMA omits zero counts)
    at_half = min(matrices, key=lambda m: abs(m.get("threshold", 0.0) - 0.5))
    return {
        "fpr": [float(m.get("falsePositiveRate", 0.0)) for m in roc],
        "tpr": [float(m.get("recall", 0.0)) for m in roc],
        "thresholds": [float(m.get("threshold", 0.0)) for m in roc],  # 0 is omitted in the JSON
        "matrix": [
            [counts(at_half, "trueNegatives"), counts(at_half, "falsePositives")],
            [counts(at_half, "falseNegatives"), counts(at_half, "truePositives")],
        ],
    }


def multiclass_matrix(evaluation_dir: str, n_classes: int, with_baseline: bool = False) -> list[list[int]]:
    """The overall confusion matrix (rows: actual class, columns: predicted, top-1)."""
    plot = overall_plots(evaluation_dir, with_baseline)["multiClassConfusionMatrixAtThresholds"]
    matrix = [[0] * n_classes for _ in range(n_classes)]
    entries = plot["matrices"][0].get("entries", [])  # threshold 0: the top prediction
    for e in entries:
        actual, predicted = int(e.get("actualClassId", 0)), int(e.get("predictedClassId", 0))
        if 0 <= actual < n_classes and 0 <= predicted < n_classes:
            matrix[actual][predicted] += int(e.get("numWeightedExamples", 0))
    return matrix
