"""The tasks and the evaluation metrics of each: the names a config gates on, the names they
are reported under (blessing.json, the report, KFP Metrics), and the TFMA / tf_keras class
that computes them. Plain data: the config, the Evaluator and the report all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class MetricDef:
    name: str  # what a config's thresholds call it (TFMA's class names; Macro*/Micro* for averages)
    reported: str  # its key in blessing.json and the report
    label: str  # how the report titles it
    tfma_class: str  # the TFMA metric class, or a tf_keras.metrics class when module is set
    module: str = ""
    aggregate: Literal["", "macro", "micro"] = ""
    higher_is_better: bool = True


def _m(name, reported, label, tfma_class=None, **kw) -> MetricDef:
    return MetricDef(name, reported, label, tfma_class or name, **kw)


_COMMON = [_m("ExampleCount", "example_count", "examples")]
_KERAS = "tf_keras.metrics"

METRICS: dict[Task, list[MetricDef]] = {
    "binary": _COMMON
    + [
        _m("AUC", "auc", "AUC"),
        _m("AUCPrecisionRecall", "auc_precision_recall", "AUC-PR"),
        _m("BinaryAccuracy", "binary_accuracy", "accuracy"),
        _m("Precision", "precision", "precision"),
        _m("Recall", "recall", "recall"),
        _m("Calibration", "calibration", "calibration"),
        _m("MeanLabel", "mean_label", "mean label"),
        _m("MeanPrediction", "mean_prediction", "mean prediction"),
    ],
    "multiclass": _COMMON
    + [
        _m("Accuracy", "accuracy", "accuracy", "SparseCategoricalAccuracy", module=_KERAS),
        _m("MacroAUC", "macro_auc", "AUC (macro)", "AUC", aggregate="macro"),
        _m("MacroPrecision", "macro_precision", "precision (macro)", "Precision", aggregate="macro"),
        _m("MacroRecall", "macro_recall", "recall (macro)", "Recall", aggregate="macro"),
        _m("MicroAUC", "micro_auc", "AUC (micro)", "AUC", aggregate="micro"),
        _m("MicroPrecision", "micro_precision", "precision (micro)", "Precision", aggregate="micro"),
        _m("MicroRecall", "micro_recall", "recall (micro)", "Recall", aggregate="micro"),
    ],
    "regression": _COMMON
    + [
        _m("MeanAbsoluteError", "mean_absolute_error", "MAE", higher_is_better=False),
        _m("RootMeanSquaredError", "root_mean_squared_error", "RMSE", module=_KERAS, higher_is_better=False),
        _m("MeanSquaredError", "mean_squared_error", "MSE", higher_is_better=False),
        _m("SquaredPearsonCorrelation", "squared_pearson_correlation", "r²"),
        _m("Calibration", "calibration", "calibration (mean prediction / mean label)"),
        _m("MeanLabel", "mean_label", "mean label"),
        _m("MeanPrediction", "mean_prediction", "mean prediction"),
    ],
}

# Multiclass: computed one-vs-rest for every class, reported as "<metric>[<class>]".
PER_CLASS_METRICS = ("AUC", "Precision", "Recall")

# The per-threshold rates Fairness Indicators (fairness-indicators 0.47.0) computes; a
# classification fairness gate may name any of them. Same order as the library's
# FAIRNESS_INDICATORS_SUB_METRICS (a test checks they agree).
FAIRNESS_RATES = (
    "false_positive_rate",
    "false_negative_rate",
    "true_positive_rate",
    "true_negative_rate",
    "positive_rate",
    "negative_rate",
    "false_discovery_rate",
    "false_omission_rate",
    "precision",
    "recall",
)
FAIRNESS_PREFIX = "fairness_indicators_metrics/"

# Regression: the error metrics whose gap between groups a gate may bound.
GAP_METRICS = ("mean_absolute_error", "root_mean_squared_error", "mean_squared_error")


def known_metrics(task: Task) -> dict[str, MetricDef]:
    return {m.name: m for m in METRICS[task]}


def reported_name(task: Task, name: str) -> str:
    return known_metrics(task)[name].reported


def per_class_key(metric: str, class_name: str) -> str:
    """How a one-vs-rest value is keyed in blessing.json: 'recall[Gentoo]'."""
    return f"{metric}[{class_name}]"


def fairness_key(rate: str, threshold_text: str) -> str:
    """'fairness_indicators_metrics/false_negative_rate@0.5' (the threshold as the library prints it)."""
    return f"{FAIRNESS_PREFIX}{rate}@{threshold_text}"
