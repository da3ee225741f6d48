"""Multiclass (penguins) and regression (auto_mpg) end to end on the executors: the exported
model's two signatures agree on raw rows, TFMA's metrics agree with scikit-learn on the
model's own predictions, the gates judge, and the Pusher records the task."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    recall_score,
    roc_auc_score,
)

from tests.conftest import EXAMPLES, evaluate, push


def eval_split(chain, label: str, output: str):
    """Labels and the model's outputs (serving_default) on the eval split, plus the raw examples."""
    files = tf.io.gfile.glob(str(chain.examples / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000)))
    model = tf.saved_model.load(str(chain.model / "Format-Serving"))
    outputs = model.signatures["serving_default"](examples=serialized)
    examples = [tf.train.Example.FromString(r).features.feature for r in serialized.numpy()]
    kind = "int64_list" if "int64_list" == examples[0][label].WhichOneof("kind") else "float_list"
    labels = np.array([getattr(e[label], kind).value[0] for e in examples])
    return labels, outputs[output].numpy(), outputs, examples


def raw_feed(model, frame: pd.DataFrame) -> dict:
    """serving_raw's inputs from raw CSV text: a missing value sent as the fill value (0 / "")."""
    feed = {}
    for name, spec in model.signatures["serving_raw"].structured_input_signature[1].items():
        column = frame[name].fillna("")
        if spec.dtype == tf.string:
            feed[name] = tf.constant(column.astype(str).tolist())
        else:
            feed[name] = tf.constant(pd.to_numeric(column.replace("", "0")).to_numpy(), dtype=spec.dtype)
    return feed


def example_from_text(row: dict, schema) -> bytes:
    feature = {}
    for f in schema.feature:
        text = row.get(f.name, "")
        if text in ("", None):
            continue
        if f.type == 2:  # INT
            feature[f.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(text)]))
        elif f.type == 3:  # FLOAT
            feature[f.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
        else:
            feature[f.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(text).encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def penguins_eval(penguins_chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("penguins_eval")
    return root, evaluate(penguins_chain, penguins_chain.config, root, statistics=str(penguins_chain.statistics))


@pytest.fixture(scope="module")
def mpg_eval(mpg_chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("mpg_eval")
    return root, evaluate(mpg_chain, mpg_chain.config, root)


# ----------------------------------------------------------------------------------- multiclass


def test_multiclass_model_outputs_probabilities_per_class(penguins_chain):
    model = tf.saved_model.load(str(penguins_chain.model / "Format-Serving"))
    raw = pd.read_csv(
        EXAMPLES / "penguins" / "data" / "penguins.csv", dtype=str, keep_default_na=False, na_values=["NA"]
    ).iloc[:60]
    from components.common.readers import load_schema

    schema = load_schema(str(penguins_chain.schema))
    rows = raw.fillna("").to_dict("records")
    from_examples = model.signatures["serving_default"](
        examples=tf.constant([example_from_text({k: v for k, v in r.items() if k != "species"}, schema) for r in rows])
    )
    from_raw = model.signatures["serving_raw"](**raw_feed(model, raw))
    probabilities = from_raw["probabilities"].numpy()
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(from_examples["probabilities"].numpy(), probabilities, atol=1e-6)
    assert [c.decode() for c in from_raw["classes"].numpy()[0]] == ["Adelie", "Chinstrap", "Gentoo"]
    # The two rows with no measurements at all are among these rows; the model still answers.
    predicted = np.array(["Adelie", "Chinstrap", "Gentoo"])[probabilities.argmax(axis=1)]
    assert (predicted == raw.species.to_numpy()).mean() > 0.8


def test_multiclass_metrics_agree_with_scikit_learn(penguins_chain, penguins_eval):
    _, blessing = penguins_eval
    labels, probabilities, _, _ = eval_split(penguins_chain, "species", "probabilities")
    predicted = probabilities.argmax(axis=1)
    overall = blessing.overall_metrics
    assert overall["example_count"] == len(labels)
    assert overall["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    classes = blessing.label["classes"]
    for i, name in enumerate(classes):
        # One-vs-rest at threshold 0.5, as TFMA binarizes each class.
        positive = (labels == i).astype(int)
        assert overall[f"recall[{name}]"] == pytest.approx(recall_score(positive, probabilities[:, i] > 0.5), abs=1e-6)
        assert overall[f"auc[{name}]"] == pytest.approx(roc_auc_score(positive, probabilities[:, i]), abs=5e-3)
    macro = np.mean([recall_score(labels == i, probabilities[:, i] > 0.5) for i in range(3)])
    assert overall["macro_recall"] == pytest.approx(macro, abs=1e-6)
    assert {"micro_auc", "micro_precision", "macro_precision", "macro_auc"} <= set(overall)
    # The multi-class confusion matrix (top-1), rows actual, columns predicted.
    assert blessing.confusion_matrix == confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()
    assert [c.metric for c in blessing.checks] == ["Accuracy", "MacroRecall"] and blessing.blessed


def test_multiclass_fairness_gate_compares_one_class_between_groups(penguins_chain, penguins_eval):
    _, blessing = penguins_eval
    gate = blessing.fairness_check
    assert gate.feature == "sex" and gate.metric == "false_negative_rate@0.5[Adelie]"
    assert (gate.class_name, gate.threshold, gate.when_unmeasurable) == ("Adelie", 0.5, "fail")
    labels, probabilities, _, examples = eval_split(penguins_chain, "species", "probabilities")
    sex = np.array([e["sex"].bytes_list.value[0].decode() if "sex" in e else "" for e in examples])
    for group in gate.groups:
        members = sex == group.group
        adelie = members & (labels == 0)
        expected = ((probabilities[adelie, 0] <= 0.5).sum() / adelie.sum()) if adelie.sum() else None
        assert group.example_count == members.sum()
        if expected is not None and group.value is not None:
            assert group.value == pytest.approx(expected, abs=1e-6)
    assert gate.measured and gate.passed == (gate.gap <= gate.max_gap)


# ----------------------------------------------------------------------------------- regression


def test_regression_model_predicts_the_label_scale(mpg_chain):
    model = tf.saved_model.load(str(mpg_chain.model / "Format-Serving"))
    raw = pd.read_csv(EXAMPLES / "auto_mpg" / "data" / "cars.csv.gz", dtype=str, keep_default_na=False)
    raw = raw[raw.Miles_per_Gallon != ""].iloc[:100]
    predictions = model.signatures["serving_raw"](**raw_feed(model, raw))["predictions"].numpy()
    assert predictions.shape == (100,) and np.isfinite(predictions).all()
    truth = raw.Miles_per_Gallon.astype(float).to_numpy()
    assert mean_absolute_error(truth, predictions) < 5.0  # mpg; the label's mean is about 23
    from components.common.readers import load_schema

    schema = load_schema(str(mpg_chain.schema))
    rows = [{k: v for k, v in r.items() if k != "Miles_per_Gallon"} for r in raw.to_dict("records")]
    from_examples = model.signatures["serving_default"](
        examples=tf.constant([example_from_text(r, schema) for r in rows])
    )
    np.testing.assert_allclose(from_examples["predictions"].numpy(), predictions, atol=1e-4)


def test_regression_metrics_agree_with_scikit_learn(mpg_chain, mpg_eval):
    _, blessing = mpg_eval
    labels, predictions, _, _ = eval_split(mpg_chain, "Miles_per_Gallon", "predictions")
    overall = blessing.overall_metrics
    assert overall["example_count"] == len(labels)
    assert overall["mean_absolute_error"] == pytest.approx(mean_absolute_error(labels, predictions), rel=1e-5)
    assert overall["mean_squared_error"] == pytest.approx(mean_squared_error(labels, predictions), rel=1e-5)
    assert overall["root_mean_squared_error"] == pytest.approx(
        np.sqrt(mean_squared_error(labels, predictions)), rel=1e-4
    )
    assert overall["mean_label"] == pytest.approx(labels.mean(), rel=1e-6)
    assert overall["calibration"] == pytest.approx(predictions.sum() / labels.sum(), rel=1e-5)
    [check] = blessing.checks
    assert check.metric == "MeanAbsoluteError" and check.upper_bound == 3.0
    assert check.passed == (overall["mean_absolute_error"] <= 3.0)


def test_regression_gate_on_the_error_gap_between_groups(mpg_chain, mpg_eval):
    root, blessing = mpg_eval
    gate = blessing.fairness_check
    assert gate.feature == "Origin" and gate.metric == "mean_absolute_error" and gate.threshold is None
    labels, predictions, _, examples = eval_split(mpg_chain, "Miles_per_Gallon", "predictions")
    origin = np.array([e["Origin"].bytes_list.value[0].decode() for e in examples])
    errors = {g: mean_absolute_error(labels[origin == g], predictions[origin == g]) for g in set(origin)}
    counted = {g.group: g.value for g in gate.groups if g.counted}
    for group, value in counted.items():
        assert value == pytest.approx(errors[group], rel=1e-5)
        assert (origin == group).sum() >= gate.min_examples
    assert gate.gap == pytest.approx(max(counted.values()) - min(counted.values()), abs=1e-9)
    saved = json.loads((root / "blessing" / "blessing.json").read_text())
    assert saved["task"] == "regression" and saved["fairness_check"]["passed"] == (gate.gap <= 2.0)


def test_pushed_metadata_records_task_and_classes(penguins_chain, penguins_eval, tmp_path):
    root, blessing = penguins_eval
    assert blessing.blessed, blessing.reasons
    result = push(penguins_chain, penguins_chain.config, root / "blessing", tmp_path / "pushed", tmp_path / "reg")
    meta = json.loads((tmp_path / "reg" / "penguin_species" / str(result.version) / "model_metadata.json").read_text())
    assert meta["task"] == "multiclass" and meta["label"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert meta["metrics"]["accuracy"] == blessing.overall_metrics["accuracy"]
