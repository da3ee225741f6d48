"""Evaluator: TFMA on the eval split, overall and per configured slice; the config's value
thresholds on overall metrics decide the blessing.

Outputs keep TFX's layouts: a TFMA output directory (tfma.load_eval_result reads it) and a
blessing directory holding an empty BLESSED or NOT_BLESSED file, plus blessing.json with
every check and the numbers behind it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field

import tensorflow as tf
import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions

from components.common.io import examples_pattern, log, step, write_json
from components.schema_gen.executor import load_schema
from pipelines.config import KNOWN_METRICS, PipelineConfig, Threshold

BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
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
    metric: str
    value: float | None
    lower_bound: float | None
    upper_bound: float | None
    passed: bool


@dataclass
class Blessing:
    blessed: bool
    checks: list[Check]
    overall_metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED


def _metric_threshold(bounds: Threshold) -> tfma.MetricThreshold:
    value = tfma.GenericValueThreshold()
    if bounds.lower_bound is not None:
        value.lower_bound.value = bounds.lower_bound
    if bounds.upper_bound is not None:
        value.upper_bound.value = bounds.upper_bound
    return tfma.MetricThreshold(value_threshold=value)


def make_eval_config(config: PipelineConfig, thresholds: dict[str, Threshold]) -> tfma.EvalConfig:
    metrics = []
    for name in METRICS + PLOTS:
        metric = tfma.MetricConfig(class_name=name)
        if name in thresholds:
            # MetricConfig.threshold would gate every slice, tiny ones included; the
            # config's value thresholds are on the overall slice.
            metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()], threshold=_metric_threshold(thresholds[name])))
        metrics.append(metric)
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=config.label.name,
                                    prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=s)
                                              for s in config.evaluation.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        # Only the metrics above: the Keras model's compiled metrics would shadow TFMA's names.
        options=tfma.Options(include_default_metrics={"value": False}))


def _flatten(metrics: dict) -> dict[str, float]:
    """TFMA's {output: {sub_key: {metric: {'doubleValue': v}}}} -> {metric: v}."""
    flat = {}
    for by_sub_key in metrics.values():
        for values in by_sub_key.values():
            for name, value in values.items():
                if isinstance(value, dict) and "doubleValue" in value:
                    flat[name] = float(value["doubleValue"])
    return flat


def slice_name(slice_key: tuple) -> str:
    return "Overall" if not slice_key else " x ".join(f"{k}={v}" for k, v in slice_key)


def read_metrics(evaluation_dir: str) -> dict[str, dict[str, float]]:
    result = tfma.load_eval_result(evaluation_dir)
    return {slice_name(key): _flatten(metrics) for key, metrics in result.slicing_metrics}


def judge(overall: dict[str, float], thresholds: dict[str, Threshold]) -> list[Check]:
    checks = []
    for name, bounds in sorted(thresholds.items()):
        value = overall.get(metric_name(name))
        ok = value is not None \
            and (bounds.lower_bound is None or value >= bounds.lower_bound) \
            and (bounds.upper_bound is None or value <= bounds.upper_bound)
        checks.append(Check(name, value, bounds.lower_bound, bounds.upper_bound, ok))
    return checks


def run(config: PipelineConfig, model_dir: str, examples_dir: str, schema_dir: str,
        evaluation_dir: str, blessing_dir: str,
        thresholds: dict[str, Threshold] | None = None) -> Blessing:
    thresholds = config.evaluation.value_thresholds if thresholds is None else thresholds
    eval_config = make_eval_config(config, thresholds)
    eval_model = tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=eval_config)
    with step("Evaluator: TFMA on the eval split"):
        tfma.run_model_analysis(
            eval_shared_model=eval_model, eval_config=eval_config,
            data_location=examples_pattern(examples_dir, "eval"), file_format="tfrecords",
            output_path=evaluation_dir, schema=load_schema(schema_dir),
            pipeline_options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"]))
    by_slice = read_metrics(evaluation_dir)
    overall = by_slice.pop("Overall")
    checks = judge(overall, thresholds)
    # TFMA's own validation must agree with our reading of the same thresholds.
    tfma_ok = tfma.load_validation_result(evaluation_dir).validation_ok
    blessed = all(c.passed for c in checks) and tfma_ok
    reasons = [f"{c.metric} = {c.value if c.value is None else round(c.value, 4)} is outside "
               f"[{c.lower_bound}, {c.upper_bound}]" for c in checks if not c.passed]
    if not tfma_ok and not reasons:
        reasons.append("TFMA's validation result is not OK (see validations in the evaluation output)")
    blessing = Blessing(blessed, checks, overall, by_slice, reasons)
    write_blessing(blessing_dir, blessing)
    log.info("Evaluator: %s; overall AUC %.4f on %d examples%s", blessing.decision,
             overall.get("auc", float("nan")), int(overall.get("example_count", 0)),
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
