"""Evaluator (TFMA) and Pusher on the small chain's model: metrics checked against an
independent computation, the blessing, and the registry's atomic, versioned pushes."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import roc_auc_score

from components.common.io import file_sha256
from contracts.artifacts import is_blessed
from contracts.config import Threshold
from contracts.registry import TRAINING_SCHEMA, TRAINING_STATS, complete_versions, latest_version, model_base
from tests.conftest import evaluate, push


@pytest.fixture(scope="module")
def evaluated(chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    blessing = evaluate(chain, chain.config, root, value_thresholds={"AUC": Threshold(lower_bound=0.6)})
    return root, blessing


def eval_labels_and_predictions(chain):
    files = tf.io.gfile.glob(str(chain.examples / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000)))
    labels = tf.io.parse_example(serialized, {"big_tipper": tf.io.FixedLenFeature([], tf.int64)})["big_tipper"]
    model = tf.saved_model.load(str(chain.model / "Format-Serving"))
    probabilities = model.signatures["serving_default"](examples=serialized)["probabilities"]
    return labels.numpy(), probabilities.numpy()


def test_tfma_output_is_readable_and_sliced(chain, evaluated):
    root, blessing = evaluated
    result = tfma.load_eval_result(str(root / "evaluation"))
    slices = {key for key, _ in result.slicing_metrics}
    assert () in slices
    assert any(key and key[0][0] == "payment_type" for key in slices)
    assert any(key and key[0][0] == "trip_start_hour" for key in slices)
    assert "payment_type=Cash" in blessing.slice_metrics


def test_metrics_agree_with_an_independent_computation(chain, evaluated):
    _, blessing = evaluated
    labels, probabilities = eval_labels_and_predictions(chain)
    overall = blessing.overall_metrics
    assert overall["example_count"] == len(labels)
    assert overall["mean_label"] == pytest.approx(labels.mean(), abs=1e-9)
    assert overall["mean_prediction"] == pytest.approx(probabilities.mean(), abs=1e-6)
    predicted = probabilities > 0.5
    assert overall["binary_accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    # TFMA's AUC interpolates over 10,000 thresholds; scikit-learn's is exact.
    assert overall["auc"] == pytest.approx(roc_auc_score(labels, probabilities), abs=2e-3)


def test_blessing_files_and_checks(chain, evaluated):
    root, blessing = evaluated
    assert blessing.blessed
    assert sorted(os.listdir(root / "blessing")) == ["BLESSED", "blessing.json"]
    saved = json.loads((root / "blessing" / "blessing.json").read_text())
    assert saved["decision"] == "BLESSED"
    assert saved["checks"] == [
        {
            "metric": "AUC",
            "value": blessing.overall_metrics["auc"],
            "lower_bound": 0.6,
            "upper_bound": None,
            "passed": True,
        }
    ]
    assert is_blessed(str(root / "blessing"))
    assert saved["task"] == "binary" and saved["label"]["name"] == "big_tipper"
    assert saved["data"]["source"] == str(chain.csv) and saved["data"]["rows_read"] == 3000


def test_unmet_threshold_is_not_blessed_and_not_pushed(chain, tmp_path):
    blessing = evaluate(
        chain,
        chain.config,
        tmp_path,
        value_thresholds={"AUC": Threshold(lower_bound=0.999), "Calibration": Threshold(upper_bound=5)},
    )
    assert not blessing.blessed
    assert [c.passed for c in blessing.checks] == [False, True]  # sorted: AUC, Calibration
    assert blessing.reasons and blessing.reasons[0].startswith("AUC = ")
    assert (tmp_path / "blessing" / "NOT_BLESSED").exists()
    registry = tmp_path / "registry"
    result = push(chain, chain.config, tmp_path / "blessing", tmp_path / "pushed", registry)
    assert not result.pushed and "not blessed: AUC = " in result.reason
    assert not registry.exists()
    assert json.loads((tmp_path / "pushed" / "push_result.json").read_text())["pushed"] is False


def test_blessed_model_is_pushed_with_metadata(chain, evaluated, tmp_path):
    root, blessing = evaluated
    registry = tmp_path / "registry"
    first = push(chain, chain.config, root / "blessing", tmp_path / "p1", registry, git_commit="abc123")
    base = registry / chain.config.model_name
    assert first.pushed and os.listdir(base) == [str(first.version)]  # no staging left
    meta = json.loads((base / str(first.version) / "model_metadata.json").read_text())
    assert meta["metrics"]["auc"] == pytest.approx(blessing.overall_metrics["auc"])
    assert meta["git_commit"] == "abc123" and meta["config_sha256"] == chain.config.fingerprint()
    assert meta["schema_sha256"] == file_sha256(str(chain.schema / "schema.pbtxt"))
    assert meta["data_source"] == str(chain.csv) and meta["version"] == first.version
    assert meta["task"] == "binary" and meta["label"]["class_counts"]["train"]["positive"] > 0
    # The train split's statistics travel with the model (later runs compare against them).
    assert (base / str(first.version) / TRAINING_STATS).exists()
    # So does the schema it was trained with (the predictor checks requests against its domains).
    assert (base / str(first.version) / TRAINING_SCHEMA).read_bytes() == (chain.schema / "schema.pbtxt").read_bytes()
    assert latest_version(str(registry), chain.config.model_name).version == first.version
    loaded = tf.saved_model.load(str(base / str(first.version)))
    assert set(loaded.signatures) == {"serving_default", "serving_raw"}


def test_versions_never_go_below_an_existing_one(chain, evaluated, tmp_path):
    root, _ = evaluated
    future = tmp_path / "registry" / chain.config.model_name / "9999999999"
    future.mkdir(parents=True)
    (future / "model_metadata.json").write_text("{}")
    result = push(chain, chain.config, root / "blessing", tmp_path / "p", tmp_path / "registry")
    assert result.version == 10_000_000_000


def test_failed_local_push_leaves_nothing(chain, evaluated, tmp_path, monkeypatch):
    root, _ = evaluated
    import shutil

    real_copy = shutil.copy2
    calls = {"n": 0}

    def failing_copy(src, dst, **kw):  # the disk fills up on the third file
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, **kw)

    real_copytree = shutil.copytree

    def copytree(src, dst, *args, **kwargs):  # copytree recurses with copy_function positional
        if not args:
            kwargs["copy_function"] = failing_copy
        return real_copytree(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", copytree)
    registry = tmp_path / "registry"
    with pytest.raises(OSError, match="No space left"):
        push(chain, chain.config, root / "blessing", tmp_path / "p", registry)
    assert os.listdir(registry / chain.config.model_name) == []
    assert complete_versions(model_base(str(registry), chain.config.model_name)) == []


def test_failed_object_store_push_leaves_no_version_directory(chain, evaluated, monkeypatch, tmp_path):
    """ram:// is TensorFlow's in-memory filesystem: the same no-rename code path as gs://."""
    root, _ = evaluated
    registry = f"ram://registry-{os.getpid()}"
    ok = push(chain, chain.config, root / "blessing", tmp_path / "p1", registry)
    assert ok.pushed and tf.io.gfile.exists(f"{ok.destination}/saved_model.pb")
    # The version holds another model now, so the next push of this one writes a new version.
    meta = ok.metadata | {"model_sha256": "another model"}
    tf.io.gfile.remove(f"{ok.destination}/model_metadata.json")  # ram:// does not truncate on "w"
    with tf.io.gfile.GFile(f"{ok.destination}/model_metadata.json", "w") as f:
        f.write(json.dumps(meta))
    real_copy = tf.io.gfile.copy
    calls = {"n": 0}

    def failing_copy(src, dst, overwrite=False):
        calls["n"] += 1
        if calls["n"] == 3:
            raise tf.errors.UnavailableError(None, None, "connection reset")
        return real_copy(src, dst, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", failing_copy)
    with pytest.raises(tf.errors.UnavailableError):
        push(chain, chain.config, root / "blessing", tmp_path / "p2", registry)
    base = f"{registry}/{chain.config.model_name}"
    assert [n.rstrip("/") for n in tf.io.gfile.listdir(base)] == [str(ok.version)]
