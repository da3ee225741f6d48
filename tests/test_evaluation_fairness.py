"""Slicing, FairnessIndicators and the fairness gate, on one real TFMA run of the small chain's
model: per-slice rates agree with scikit-learn confusion matrices computed from the model's
own predictions on the eval split; small slices are suppressed; a gate that is broken
withholds the blessing and blessing.json names the groups and the gap."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import confusion_matrix

from components.evaluator.checks import judge_fairness
from components.evaluator.tfma_config import (
    fairness_metric_name,
    load_metrics,
    make_eval_config,
    slice_name,
    tfma_validation_ok,
)
from contracts.config import ConfigError, parse_config
from contracts.metrics import FAIRNESS_RATES
from tests.conftest import evaluate, push, taxi_config

SLICES = [["payment_type"], ["trip_start_hour"], ["trip_start_hour", "payment_type"]]
MIN_SLICE_SIZE = 5
GATE = {
    "feature": "trip_start_hour",
    "metric": "false_negative_rate",
    "threshold": 0.5,
    "max_gap": 0.0,
    "min_examples": 10,
}  # no gap allowed at all: any real model breaks it


def gate_config(chain, tmp_path, **gate):
    evaluation = {
        "slices": SLICES,
        "min_slice_size": MIN_SLICE_SIZE,
        "fairness_thresholds": [0.3, 0.5],
        "value_thresholds": {"AUC": {"lower_bound": 0.6}},
        "fairness_gate": GATE | gate,
    }
    data = chain.config.model_dump(mode="json", exclude_none=True)
    data["evaluation"] = evaluation
    data["push"]["registry"] = str(tmp_path / "registry")  # empty: no baseline
    return parse_config(data)


@pytest.fixture(scope="module")
def fair(chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("fair")
    config = gate_config(chain, root)
    blessing = evaluate(chain, config, root)
    return config, root, blessing


def eval_rows(chain):
    """Labels, the model's probabilities and the slice features of every eval example."""
    files = tf.io.gfile.glob(str(chain.examples / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000))).numpy()
    model = tf.saved_model.load(str(chain.model / "Format-Serving"))
    probabilities = model.signatures["serving_default"](examples=tf.constant(serialized))["probabilities"].numpy()
    labels, features = [], []
    for record in serialized:
        example = tf.train.Example.FromString(record).features.feature
        labels.append(example["big_tipper"].int64_list.value[0])
        row = {}
        for name in ("payment_type", "trip_start_hour"):
            if name in example:
                values = example[name].bytes_list.value or example[name].int64_list.value
                row[name] = values[0].decode() if isinstance(values[0], bytes) else int(values[0])
        features.append(row)
    return np.array(labels), probabilities, features


def independent_rates(chain, threshold=0.5):
    """slice name -> (example count, FPR, FNR, TPR, precision) from scikit-learn."""
    labels, probabilities, features = eval_rows(chain)
    members = defaultdict(list)
    for i, row in enumerate(features):
        for spec in SLICES:
            if all(f in row for f in spec):
                key = tuple(sorted((f, row[f]) for f in spec))  # TFMA orders a slice key's columns
                members[slice_name(key)].append(i)
    nan = float("nan")
    rates = {}
    for name, idx in members.items():
        y, p = labels[idx], (probabilities[idx] > threshold).astype(int)
        tn, fp, fn, tp = confusion_matrix(y, p, labels=[0, 1]).ravel()
        rates[name] = (
            len(idx),
            fp / (fp + tn) if fp + tn else nan,
            fn / (fn + tp) if fn + tp else nan,
            tp / (tp + fn) if tp + fn else nan,
            tp / (tp + fp) if tp + fp else nan,
        )
    return rates


def same(tfma_value, expected):
    if math.isnan(expected):
        return tfma_value is None or math.isnan(tfma_value)
    return tfma_value == pytest.approx(expected, abs=1e-6)


def test_fairness_rates_per_slice_agree_with_scikit_learn(chain, fair):
    config, _, blessing = fair
    rates = independent_rates(chain)
    name = lambda m: fairness_metric_name(m, 0.5, config.evaluation.fairness_thresholds)  # noqa: E731
    assert name("false_positive_rate") == "fairness_indicators_metrics/false_positive_rate@0.5"
    checked = 0
    for slice_, (count, fpr, fnr, tpr, precision) in rates.items():
        if count < MIN_SLICE_SIZE:
            continue
        metrics = blessing.slice_metrics[slice_]
        assert metrics["example_count"] == count, slice_
        for metric, expected in [
            ("false_positive_rate", fpr),
            ("false_negative_rate", fnr),
            ("true_positive_rate", tpr),
            ("precision", precision),
        ]:
            assert same(metrics.get(name(metric)), expected), (slice_, metric, metrics.get(name(metric)), expected)
        checked += 1
    cross = [s for s in rates if " x " in s and rates[s][0] >= MIN_SLICE_SIZE]
    assert checked > 20 and cross, "single-feature and cross slices are both checked"
    # Every rate FairnessIndicators computes, at every configured threshold, on every slice.
    for t in (0.3, 0.5):
        assert all(fairness_metric_name(m, t, [0.3, 0.5]) in blessing.overall_metrics for m in FAIRNESS_RATES)


def test_small_slices_are_suppressed(chain, fair):
    _, _, blessing = fair
    rates = independent_rates(chain)
    small = {s for s, (count, *_) in rates.items() if count < MIN_SLICE_SIZE}
    assert small, "the sample has slices under min_slice_size"
    assert set(blessing.suppressed_slices) == small
    assert not small & set(blessing.slice_metrics)
    # TFMA also reports 'Metric not found' on suppressed slices; the overall thresholds still hold.
    assert blessing.checks[0].passed and tfma_validation_ok(str(fair[1] / "evaluation"))


def test_broken_fairness_gate_withholds_the_blessing_and_names_groups_and_gap(chain, fair, tmp_path):
    config, root, blessing = fair
    assert not blessing.blessed and all(c.passed for c in blessing.checks)  # only the gate fails
    assert (root / "blessing" / "NOT_BLESSED").exists()
    saved = json.loads((root / "blessing" / "blessing.json").read_text())
    gate = saved["fairness_check"]
    assert gate["passed"] is False and gate["feature"] == "trip_start_hour"
    assert gate["metric"] == "false_negative_rate@0.5" and gate["max_gap"] == 0.0
    rates = independent_rates(chain)
    counted = {g["group"]: g["value"] for g in gate["groups"] if g["counted"]}
    assert len(counted) >= 2
    for group in gate["groups"]:
        count, _, fnr, *_ = rates[f"trip_start_hour={group['group']}"]
        # A group under min_slice_size has no metrics in TFMA's output, so no count either.
        assert group["example_count"] == (count if count >= MIN_SLICE_SIZE else None)
        assert group["counted"] == (count >= GATE["min_examples"] and not math.isnan(fnr))
        if group["counted"]:
            assert group["value"] == pytest.approx(fnr, abs=1e-6)
    assert gate["gap"] == pytest.approx(max(counted.values()) - min(counted.values()), abs=1e-12)
    assert counted[gate["largest"]] == max(counted.values()) and counted[gate["smallest"]] == min(counted.values())
    [reason] = saved["reasons"]
    assert f"trip_start_hour={gate['largest']}" in reason and f"trip_start_hour={gate['smallest']}" in reason
    assert f"{gate['gap']:.4f}" in reason
    result = push(chain, config, root / "blessing", tmp_path / "pushed", tmp_path / "reg")
    assert not result.pushed and "fairness gate" in result.reason and not (tmp_path / "reg").exists()


def test_a_gate_within_its_limit_passes(chain, fair):
    config, root, blessing = fair
    metrics = load_metrics(str(root / "evaluation"), [])
    gap = blessing.fairness_check.gap
    check = judge_fairness(gate_config(chain, root, max_gap=gap + 1e-9), metrics)
    assert check.passed and check.measured and check.gap == gap
    # No group at all (a feature the eval data lacks, e.g. a misspelled name): the gate fails.
    check = judge_fairness(gate_config(chain, root, feature="trip_start_hr"), metrics)
    assert not check.passed and check.groups == []


def test_a_gate_with_nothing_to_measure_withholds_the_blessing_by_default(chain, fair):
    """Fewer than two groups with enough examples (seen with a one-class label): no gap was
    measured, so by default the gate does not pass; when_unmeasurable: pass lets it through."""
    _, root, _ = fair
    metrics = load_metrics(str(root / "evaluation"), [])
    check = judge_fairness(gate_config(chain, root, min_examples=10_000), metrics)
    assert not check.passed and not check.measured and check.gap is None
    assert check.groups and not any(g.counted for g in check.groups)
    from components.evaluator.checks import fairness_reason

    assert "nothing to measure: 0 of" in fairness_reason(check)
    lenient = judge_fairness(gate_config(chain, root, min_examples=10_000, when_unmeasurable="pass"), metrics)
    assert lenient.passed and not lenient.measured


def test_eval_config_from_the_config(chain, tmp_path):
    config = taxi_config(tmp_path, evaluation={"confidence_intervals": True})
    eval_config = make_eval_config(config, config.value_thresholds)
    assert eval_config.options.compute_confidence_intervals.value is True
    assert eval_config.options.min_slice_size.value == config.evaluation.min_slice_size == 20
    slices = [list(s.feature_keys) for s in eval_config.slicing_specs]
    assert slices[0] == [] and ["trip_start_hour", "payment_type"] in slices and ["company"] in slices
    assert [m.name for m in eval_config.model_specs] == ["candidate"]  # no baseline: no change thresholds
    fairness = [m for m in eval_config.metrics_specs[0].metrics if m.class_name == "FairnessIndicators"]
    assert json.loads(fairness[0].config) == {"thresholds": [0.3, 0.5, 0.7]}
    with_baseline = make_eval_config(config, config.value_thresholds, with_baseline=True)
    assert [(m.name, m.is_baseline) for m in with_baseline.model_specs] == [("candidate", False), ("baseline", True)]
    auc = next(m for m in with_baseline.metrics_specs[0].metrics if m.class_name == "AUC")
    change = auc.per_slice_thresholds[1].threshold.change_threshold
    assert change.absolute.value == pytest.approx(-0.01) and change.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_fairness_config_is_validated(tmp_path):
    from fairness_indicators.fairness_indicators_metrics import FAIRNESS_INDICATORS_SUB_METRICS

    assert FAIRNESS_RATES == FAIRNESS_INDICATORS_SUB_METRICS
    data = taxi_config(tmp_path).model_dump(mode="json", exclude_none=True)
    data["evaluation"]["fairness_gate"]["threshold"] = 0.55
    with pytest.raises(ConfigError, match="fairness_gate.threshold 0.55 is not one of evaluation.fairness_thresholds"):
        parse_config(data)
    data["evaluation"]["fairness_gate"] = {"feature": "company", "metric": "fnr", "max_gap": 0.1}
    with pytest.raises(ConfigError, match="evaluation.fairness_gate.metric: 'fnr' is not a Fairness Indicators rate"):
        parse_config(data)
    data["evaluation"]["fairness_gate"] = None
    data["evaluation"]["change_thresholds"] = {"AUCC": {"absolute": -0.01}}
    with pytest.raises(ConfigError, match=r"evaluation.change_thresholds: \['AUCC'\] are not binary metrics"):
        parse_config(data)


@pytest.mark.slow
def test_bootstrap_confidence_intervals(chain, tmp_path):
    """evaluation.confidence_intervals: TFMA's Poisson bootstrap; every metric gets [lower, upper]."""
    data = chain.config.model_dump(mode="json", exclude_none=True)
    data["evaluation"] = {
        "slices": [["payment_type"]],
        "confidence_intervals": True,
        "value_thresholds": {"AUC": {"lower_bound": 0.6}},
    }
    data["push"]["registry"] = str(tmp_path / "registry")
    blessing = evaluate(chain, parse_config(data), tmp_path)
    assert blessing.blessed
    lower, upper = blessing.intervals["Overall"]["auc"]
    assert lower < upper and lower <= blessing.overall_metrics["auc"] <= upper
    assert "payment_type=Cash" in blessing.intervals
    saved = json.loads((tmp_path / "blessing" / "blessing.json").read_text())
    assert saved["intervals"]["Overall"]["auc"] == [lower, upper]
