"""Transform and Trainer on real taxi rows: TFX layouts, and the exported SavedModel's two
signatures agreeing on raw CSV rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow.python.autograph.core import config as ag_config
from tensorflow.python.autograph.impl import conversion
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.readers import load_schema
from components.trainer import data
from components.trainer.tracing import grappler_off, skip_autograph_in_tf_keras
from tests.conftest import read_taxi


def test_transform_layout_and_features(chain):
    for sub in (
        "transform_fn/saved_model.pb",
        "transformed_metadata/schema.pbtxt",
        "metadata/schema.pbtxt",
        "label.json",
    ):
        assert (chain.transform_graph / sub).exists(), sub
    output = tft.TFTransformOutput(str(chain.transform_graph))
    spec = output.transformed_feature_spec()
    assert set(spec) == {f"{n}_xf" for n in chain.config.feature_names} | {"big_tipper"}
    assert output.vocabulary_size_by_name("payment_type") >= 3
    # z-scored fare on the train split: mean ~0, std ~1.
    files = tf.io.gfile.glob(str(chain.transformed / "Split-train" / "*.gz"))
    batch = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000)))
    parsed = tf.io.parse_example(batch, spec)
    fare = parsed["fare_xf"].numpy()
    assert abs(fare.mean()) < 1e-3 and abs(fare.std() - 1) < 1e-2
    hours = parsed["trip_start_hour_xf"].numpy()
    assert hours.min() >= 0 and hours.max() < 24 + 1  # 24 hours + 1 OOV bucket
    buckets = parsed["pickup_latitude_xf"].numpy()
    assert buckets.min() >= 0 and buckets.max() <= 9


def test_trainer_outputs(chain):
    result = chain.train_result
    assert result.strategy in ("_DefaultDistributionStrategy", "MirroredStrategy") and result.run_fn == "generated"
    assert result.final_metrics["val_auc"] > 0.8
    assert result.examples_per_second > 0
    assert result.workers == 1 and result.chief and len(result.epoch_seconds) == chain.config.model.epochs
    saved = json.loads((chain.model_run / "train_result.json").read_text())
    assert saved["epochs"] == chain.config.model.epochs
    assert tf.io.gfile.glob(str(chain.model_run / "train" / "events.out.tfevents.*"))  # TensorBoard
    assert (chain.model / "Format-Serving" / "saved_model.pb").exists()


def _example_from_text(row: dict, types: dict) -> bytes:
    """A raw CSV row -> tf.Example, written here independently of ExampleGen."""
    feature = {}
    for name, text in row.items():
        if text == "" or name not in types:
            continue
        if types[name] == schema_pb2.INT:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(text)]))
        elif types[name] == schema_pb2.FLOAT:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_both_signatures_agree_on_raw_csv_rows(chain):
    model = tf.saved_model.load(str(chain.model / "Format-Serving"))
    assert set(model.signatures) == {"serving_default", "serving_raw"}
    rows = read_taxi(None).iloc[5000:5400]  # rows the small training sample never saw
    assert (rows == "").any(axis=None)  # the rows include missing values
    types = {f.name: f.type for f in load_schema(str(chain.schema)).feature}

    serialized = tf.constant([_example_from_text(r, types) for r in rows.to_dict("records")])
    from_examples = model.signatures["serving_default"](examples=serialized)["probabilities"].numpy()

    raw_inputs = model.signatures["serving_raw"].structured_input_signature[1]
    assert set(raw_inputs) == set(chain.config.feature_names)
    feed = {}
    for name, spec in raw_inputs.items():
        column = rows[name]
        if spec.dtype == tf.string:
            feed[name] = tf.constant(column.tolist())
        else:  # a missing number is sent as 0, what the transform fills in for an absent one
            numbers = pd.to_numeric(column.replace("", "0"))
            feed[name] = tf.constant(numbers.to_numpy(), dtype=spec.dtype)
    from_raw = model.signatures["serving_raw"](**feed)["probabilities"].numpy()

    assert from_examples.shape == from_raw.shape == (400,)
    assert np.all((from_examples >= 0) & (from_examples <= 1))
    np.testing.assert_allclose(from_examples, from_raw, rtol=0, atol=1e-6)
    assert from_examples.std() > 0.05  # a model that answers the rows, not a constant


def test_raw_signature_rejects_a_wrong_type(chain):
    model = tf.saved_model.load(str(chain.model / "Format-Serving"))
    raw_inputs = model.signatures["serving_raw"].structured_input_signature[1]
    feed = {n: tf.constant([""] if s.dtype == tf.string else [0], dtype=s.dtype) for n, s in raw_inputs.items()}
    feed["fare"] = tf.constant(["twelve"])
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        model.signatures["serving_raw"](**feed)


def _rows(features: dict, label) -> np.ndarray:
    """(fare, payment type, label) per row, sorted: the multiset of rows a pass yields."""
    rows = np.stack(
        [
            features["fare_xf"].numpy().reshape(-1),
            features["payment_type_xf"].numpy().reshape(-1),
            np.asarray(label).reshape(-1),
        ],
        axis=1,
    )
    return rows[np.lexsort(rows.T[::-1])]


def test_each_epoch_is_every_training_row_once(chain, monkeypatch):
    spec = tft.TFTransformOutput(str(chain.transform_graph)).transformed_feature_spec()
    files = [str(chain.transformed / "Split-train" / "*.gz")]
    rows = data.count_records(files)
    names = sorted(n for n in spec if n != "big_tipper")
    columns = data.load_columns(files, spec, rows)
    assert columns is not None and {int(t.shape[0]) for t in columns.values()} == {rows}
    expected = _rows(columns, columns["big_tipper"])

    ds, steps = data.dataset(files, columns, spec, "big_tipper", names, 64, True, False, seed=7)
    assert steps == math.ceil(rows / 64)
    batches = iter(ds)
    passes = [[next(batches) for _ in range(steps)] for _ in range(2)]
    for batches_of_pass in passes:  # every row once, features and label still together
        features = {n: tf.concat([f[n] for f, _ in batches_of_pass], 0) for n in ("fare_xf", "payment_type_xf")}
        np.testing.assert_array_equal(_rows(features, tf.concat([y for _, y in batches_of_pass], 0)), expected)
    first, second = (np.concatenate([f["fare_xf"].numpy().ravel() for f, _ in p]) for p in passes)
    assert not np.array_equal(first, second)  # reshuffled every pass
    assert passes[0][0][0]["fare_xf"].shape == (64, 1)  # the model's [batch, 1] inputs

    # A split too big to hold streams from the files: the same rows.
    monkeypatch.setattr(data, "IN_MEMORY_BYTES", 0)
    assert data.load_columns(files, spec, rows) is None
    streamed, steps = data.dataset(files, None, spec, "big_tipper", names, 64, True, False, seed=7)
    assert steps is None
    batches_of_pass = list(streamed)
    features = {n: tf.concat([f[n] for f, _ in batches_of_pass], 0) for n in ("fare_xf", "payment_type_xf")}
    np.testing.assert_array_equal(_rows(features, tf.concat([y for _, y in batches_of_pass], 0)), expected)


def test_tf_keras_is_not_converted_by_autograph_but_user_layers_are():
    skip_autograph_in_tf_keras()
    skip_autograph_in_tf_keras()
    assert sum(r.matches("tf_keras") for r in ag_config.CONVERSION_RULES) == 1
    assert conversion.is_allowlisted(keras.layers.Dense.call)  # traced as written, not transpiled

    class ScaleDown(keras.layers.Layer):
        def call(self, x):
            if tf.reduce_max(x) > 1.0:  # a Python `if` on a tensor: only AutoGraph makes it a graph
                x = x / tf.reduce_max(x)
            return x

    model = keras.Sequential([keras.Input((2,)), ScaleDown(), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with grappler_off(True):
        assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]
        history = model.fit(np.array([[2.0, 4.0], [0.1, 0.2]]), np.array([1.0, 0.0]), epochs=2, verbose=0)
    assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    assert np.isfinite(history.history["loss"]).all()
