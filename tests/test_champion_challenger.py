"""Champion/challenger on real TFMA runs: a first run (empty registry) is judged by value
thresholds alone and says so; once the chain's model is the registry's blessed baseline, a
deliberately worse candidate (a model trained for one step) fails the change threshold and is
not pushed, and the candidate's and baseline's metrics are each read from the right model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from components.evaluator.tfma_config import tfma_validation_ok
from contracts.config import parse_config
from contracts.registry import complete_versions, latest_version, model_base
from tests.conftest import evaluate, push

AUC_MAY_DROP = 0.01


def cc_config(chain, registry):
    data = chain.config.model_dump(mode="json", exclude_none=True)
    data["evaluation"] = {
        "slices": [["payment_type"]],
        "value_thresholds": {"AUC": {"lower_bound": 0.5}},
        "change_thresholds": {"AUC": {"direction": "higher_is_better", "absolute": -AUC_MAY_DROP}},
    }
    data["push"]["registry"] = str(registry)
    return parse_config(data)


def labels_and_probabilities(chain, model_dir):
    files = tf.io.gfile.glob(str(chain.examples / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000)))
    labels = tf.io.parse_example(serialized, {"big_tipper": tf.io.FixedLenFeature([], tf.int64)})["big_tipper"]
    model = tf.saved_model.load(str(model_dir))
    return labels.numpy(), model.signatures["serving_default"](examples=serialized)["probabilities"].numpy()


@pytest.fixture(scope="module")
def first_run(chain, tmp_path_factory):
    """The chain's model evaluated with an empty registry, then pushed: the champion."""
    root = tmp_path_factory.mktemp("champion")
    config = cc_config(chain, root / "registry")
    blessing = evaluate(chain, config, root)
    pushed = push(chain, config, root / "blessing", root / "pushed")
    return config, root, blessing, pushed


@pytest.fixture(scope="module")
def worse_run(chain, first_run, tmp_path_factory):
    """A challenger trained for one step, evaluated against the champion."""
    from components.trainer import executor as trainer

    config, champion_root, _, _ = first_run
    root = tmp_path_factory.mktemp("challenger")
    trainer.run(
        config,
        trainer.Inputs(
            transformed_examples=str(chain.transformed),
            transform_graph=str(chain.transform_graph),
            epochs=1,
            steps_per_epoch=1,
        ),
        trainer.Outputs(model=str(root / "model"), model_run=str(root / "model_run")),
    )
    weak = chain.__class__(**(vars(chain) | {"model": root / "model"}))
    blessing = evaluate(weak, config, root)
    return config, root, blessing


def test_first_run_is_judged_by_value_thresholds_alone_and_says_so(first_run):
    config, root, blessing, pushed = first_run
    assert blessing.blessed and pushed.pushed
    saved = json.loads((root / "blessing" / "blessing.json").read_text())
    assert saved["baseline"] is None and saved["baseline_metrics"] == {} and saved["change_checks"] == []
    assert [c["metric"] for c in saved["checks"]] == ["AUC"] and saved["checks"][0]["passed"]
    [note] = saved["notes"]
    assert note.startswith("first run: no blessed chicago_taxi_big_tipper in the registry")
    assert note.endswith("change thresholds not applied")
    # A single model: no baseline ModelSpec in what TFMA ran.
    eval_config = json.loads((root / "evaluation" / "eval_config.json").read_text())
    assert [m.get("isBaseline", False) for m in eval_config["evalConfig"]["modelSpecs"]] == [False]


def test_resolver_finds_the_latest_complete_version(first_run, tmp_path):
    config, _, _, pushed = first_run
    baseline = latest_version(config.push.registry, config.model_name)
    assert (baseline.version, baseline.path) == (pushed.version, pushed.destination)
    assert baseline.metadata["metrics"]["auc"] == pytest.approx(first_run[2].overall_metrics["auc"])
    assert latest_version(str(tmp_path / "empty"), config.model_name) is None
    incomplete = tmp_path / "reg" / config.model_name / "123"  # no model_metadata.json: a push under way
    incomplete.mkdir(parents=True)
    assert latest_version(str(tmp_path / "reg"), config.model_name) is None


def test_worse_candidate_is_not_blessed_and_not_pushed(chain, first_run, worse_run, tmp_path):
    config, champion_root, champion, pushed = first_run
    _, root, blessing = worse_run
    assert not blessing.blessed and (root / "blessing" / "NOT_BLESSED").exists()
    saved = json.loads((root / "blessing" / "blessing.json").read_text())
    assert saved["baseline"] == {"version": pushed.version, "path": pushed.destination}
    [change] = saved["change_checks"]
    assert change["metric"] == "AUC" and change["passed"] is False and change["absolute"] == -AUC_MAY_DROP
    assert change["change"] == pytest.approx(change["candidate"] - change["baseline"])
    assert change["change"] < -AUC_MAY_DROP
    assert any(r.startswith("AUC changed by") and f"baseline version {pushed.version}" in r for r in saved["reasons"])
    # TFMA's own validation of the change threshold agrees.
    assert not tfma_validation_ok(str(root / "evaluation"))
    # overall_metrics are the candidate's, baseline_metrics the champion's: each matches its own model.
    labels, weak = labels_and_probabilities(chain, root / "model" / "Format-Serving")
    _, strong = labels_and_probabilities(chain, chain.model / "Format-Serving")
    assert blessing.overall_metrics["auc"] == pytest.approx(roc_auc_score(labels, weak), abs=2e-3)
    assert blessing.baseline_metrics["auc"] == pytest.approx(roc_auc_score(labels, strong), abs=2e-3)
    assert blessing.overall_metrics["mean_prediction"] == pytest.approx(weak.mean(), abs=1e-6)
    assert blessing.baseline_metrics["mean_prediction"] == pytest.approx(strong.mean(), abs=1e-6)
    assert blessing.baseline_metrics["auc"] == pytest.approx(champion.overall_metrics["auc"], abs=1e-9)
    assert not any(k.endswith("_diff") for k in blessing.overall_metrics)
    cash = blessing.slice_metrics["payment_type=Cash"]["mean_prediction"]
    assert cash != blessing.baseline_slice_metrics["payment_type=Cash"]["mean_prediction"]
    # The Pusher pushes nothing: the champion stays the only version.
    result = push(chain, config, root / "blessing", tmp_path / "pushed")
    assert not result.pushed and "AUC changed by" in result.reason
    assert complete_versions(model_base(config.push.registry, config.model_name)) == [pushed.version]


def test_candidate_as_good_as_the_baseline_is_blessed(chain, first_run, tmp_path):
    """The champion against itself: the change is zero, within the allowed drop."""
    config, _, _, pushed = first_run
    blessing = evaluate(chain, config, tmp_path)
    assert blessing.blessed, blessing.reasons
    [change] = blessing.change_checks
    assert change.passed and change.change == pytest.approx(0.0, abs=1e-9)
    assert blessing.baseline["version"] == pushed.version
    assert blessing.notes == [
        f"judged against the baseline: version {pushed.version} in the registry ({pushed.destination})"
    ]
    assert np.isclose(blessing.overall_metrics["auc"], blessing.baseline_metrics["auc"])
