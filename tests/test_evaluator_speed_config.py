"""What the Evaluator asks TFMA to compute, which is what it costs per example and slice: no
plot nothing reads, the ROC plot at the points the KFP UI draws, and a baseline judged on the
task's metrics alone (Fairness Indicators, per-class metrics and plots for the candidate only);
each model loaded once. The Beam options come from the step's beam_args."""

from __future__ import annotations

import json

import pytest
import tensorflow_model_analysis as tfma

from components.common.beam import BeamArgsError
from components.evaluator.tfma_config import BASELINE, CANDIDATE, ROC_POINTS, make_eval_config
from contracts.metrics import METRICS
from tests.conftest import evaluate, example_config, taxi_config

PER_EXAMPLE_EXTRAS = {"FairnessIndicators", "ConfusionMatrixPlot", "MultiClassConfusionMatrixPlot"}


def computed_for(eval_config: tfma.EvalConfig) -> dict[str, set[str]]:
    """Model name -> the metric classes TFMA computes for it (a spec without model_names: every model)."""
    models = [m.name for m in eval_config.model_specs]
    out = {m: set() for m in models}
    for spec in eval_config.metrics_specs:
        for model in spec.model_names or models:
            out[model] |= {m.class_name for m in spec.metrics}
    return out


@pytest.mark.parametrize("with_baseline", [False, True])
def test_binary_computes_no_unused_plot_and_a_101_point_roc(tmp_path, with_baseline):
    config = taxi_config(tmp_path)
    eval_config = make_eval_config(config, config.value_thresholds, with_baseline=with_baseline)
    metrics = [m for spec in eval_config.metrics_specs for m in spec.metrics]
    assert "CalibrationPlot" not in {m.class_name for m in metrics}  # nothing reads it
    (roc,) = [m for m in metrics if m.class_name == "ConfusionMatrixPlot"]
    assert json.loads(roc.config) == {"num_thresholds": ROC_POINTS}
    assert computed_for(eval_config)[CANDIDATE] >= {m.tfma_class for m in METRICS["binary"]} | {
        "FairnessIndicators",
        "ConfusionMatrixPlot",
    }


def test_a_baseline_is_computed_on_the_task_metrics_alone(tmp_path):
    config = taxi_config(tmp_path)
    eval_config = make_eval_config(config, config.value_thresholds, with_baseline=True)
    # Loaded once each, as a SavedModel: TFMA loads a model of no stated type as Keras to learn its type.
    assert [m.model_type for m in eval_config.model_specs] == ["tf_generic", "tf_generic"]
    computed = computed_for(eval_config)
    assert computed[BASELINE] == {m.tfma_class for m in METRICS["binary"]}
    assert computed[CANDIDATE] - computed[BASELINE] == {"FairnessIndicators", "ConfusionMatrixPlot"}


def test_multiclass_baseline_skips_per_class_fairness_and_the_plot(tmp_path):
    config = example_config("penguins", tmp_path)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    eval_config = make_eval_config(config, config.value_thresholds, classes, with_baseline=True)
    computed = computed_for(eval_config)
    assert PER_EXAMPLE_EXTRAS & computed[BASELINE] == set()
    assert {"FairnessIndicators", "MultiClassConfusionMatrixPlot"} <= computed[CANDIDATE]
    binarized = [s for s in eval_config.metrics_specs if s.HasField("binarize")]
    assert binarized and all(list(s.model_names) == [CANDIDATE] for s in binarized)
    averaged = [s for s in eval_config.metrics_specs if s.HasField("aggregate")]
    assert len(averaged) == 2 and all(not s.model_names for s in averaged)  # the change thresholds live here
    alone = computed_for(make_eval_config(config, config.value_thresholds, classes))
    assert alone[CANDIDATE] == computed[CANDIDATE]


def test_beam_args_reach_the_tfma_run(chain, tmp_path):
    """A flag Beam does not know fails the step before TFMA starts (it is not silently dropped)."""
    with pytest.raises(BeamArgsError, match="--no_such_beam_flag"):
        evaluate(chain, chain.config, tmp_path, beam_args=("--no_such_beam_flag=1",))
    assert not (tmp_path / "evaluation").exists()
