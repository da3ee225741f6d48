"""Trainer: a Keras (tf_keras) model on the transformed features.

Exports one SavedModel (TFX layout: <model>/Format-Serving) with the tf.Transform graph
inside, so callers send raw features:
  - serving_default: serialized tf.Examples (TFMA, TF Serving's b64 inputs);
  - serving_raw: one named [batch] tensor per raw feature (JSON clients). A missing value
    is sent as the column's fill value (0 / ""), which is what the transform substitutes
    for an absent feature in a tf.Example; both signatures then agree exactly.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components.common.io import examples_pattern, log, step, write_json
from components.transform.executor import transformed_name
from pipelines.config import Bucketize, Hashing, PipelineConfig, Vocabulary, ZScore

SERVING_DIR = "Format-Serving"
RAW_SIGNATURE = "serving_raw"
OUTPUT_KEY = "probabilities"


@dataclass
class TrainResult:
    strategy: str
    devices: list[str]
    epochs: int
    train_examples_seen: int
    train_seconds: float
    examples_per_second: float
    final_metrics: dict[str, float]
    serving_model_dir: str


def serving_model_dir(model_dir: str) -> str:
    return os.path.join(model_dir, SERVING_DIR)


def choose_strategy() -> tf.distribute.Strategy:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        log.info("Trainer: %d GPU(s) visible, using MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    log.info("Trainer: no GPU visible, using the default strategy on CPU")
    return tf.distribute.get_strategy()


def _gzip_reader(filenames):
    return tf.data.TFRecordDataset(filenames, compression_type="GZIP")


def _as_model_inputs(transformed: dict, config: PipelineConfig) -> dict:
    """Transformed [batch] tensors -> the model's [batch, 1] inputs."""
    return {transformed_name(n): tf.expand_dims(transformed[transformed_name(n)], -1)
            for n in config.feature_names}


def make_dataset(pattern: str, tft_output: tft.TFTransformOutput, config: PipelineConfig,
                 batch_size: int, repeat: bool, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.experimental.make_batched_features_dataset(
        file_pattern=pattern, batch_size=batch_size,
        features=tft_output.transformed_feature_spec(), reader=_gzip_reader,
        label_key=config.label.name, num_epochs=None if repeat else 1,
        shuffle=shuffle, shuffle_seed=config.model.seed, sloppy_ordering=False)
    return ds.map(lambda f, y: (_as_model_inputs(f, config), y)).prefetch(tf.data.AUTOTUNE)


def _cardinality(spec, tft_output: tft.TFTransformOutput) -> int:
    if isinstance(spec, Vocabulary):
        return tft_output.vocabulary_size_by_name(spec.name) + spec.oov_buckets
    if isinstance(spec, Bucketize):
        return spec.buckets
    return spec.hash_buckets


def build_model(config: PipelineConfig, tft_output: tft.TFTransformOutput) -> keras.Model:
    inputs, parts = {}, []
    for spec in config.features:
        name = transformed_name(spec.name)
        if isinstance(spec, ZScore):
            inputs[name] = keras.Input(shape=(1,), name=name, dtype=tf.float32)
            parts.append(inputs[name])
        else:
            assert isinstance(spec, (Bucketize, Vocabulary, Hashing))
            inputs[name] = keras.Input(shape=(1,), name=name, dtype=tf.int64)
            emb = keras.layers.Embedding(_cardinality(spec, tft_output), config.model.embedding_dim,
                                         name=f"{spec.name}_embedding")(inputs[name])
            parts.append(keras.layers.Flatten()(emb))
    x = keras.layers.concatenate(parts)
    for i, units in enumerate(config.model.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="big_tipper_probability")(x)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(optimizer=keras.optimizers.Adam(config.model.learning_rate),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")])
    return model


def _raw_input_specs(tft_output: tft.TFTransformOutput, config: PipelineConfig) -> dict:
    raw = tft_output.raw_feature_spec()
    return {n: raw[n] for n in config.feature_names}


def export_serving_model(model: keras.Model, tft_output: tft.TFTransformOutput,
                         config: PipelineConfig, export_dir: str) -> None:
    model.tft_layer = tft_output.transform_features_layer()  # tracked: saved with the model
    raw_specs = _raw_input_specs(tft_output, config)

    def predict(raw_features: dict) -> dict:
        transformed = model.tft_layer(raw_features)
        probabilities = model(_as_model_inputs(transformed, config))
        return {OUTPUT_KEY: tf.reshape(probabilities, [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_examples(serialized):
        return predict(tf.io.parse_example(serialized, raw_specs))

    @tf.function(input_signature=[{n: tf.TensorSpec([None], s.dtype, name=n) for n, s in raw_specs.items()}])
    def serve_raw(features):
        as_parsed = {}
        for name, spec in raw_specs.items():
            value = features[name]
            if isinstance(spec, tf.io.VarLenFeature):
                # Every row holds its one value: the same SparseTensor parse_example makes.
                rows = tf.shape(value, out_type=tf.int64)[0]
                indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
                value = tf.SparseTensor(indices, value, tf.stack([rows, tf.constant(1, tf.int64)]))
            as_parsed[name] = value
        return predict(as_parsed)

    signatures = {"serving_default": serve_tf_examples.get_concrete_function(),
                  RAW_SIGNATURE: serve_raw.get_concrete_function()}
    model.save(export_dir, save_format="tf", signatures=signatures)


def run(config: PipelineConfig, transformed_examples_dir: str, transform_graph_dir: str,
        model_dir: str, model_run_dir: str, epochs: int | None = None,
        steps_per_epoch: int | None = None) -> TrainResult:
    epochs = epochs or config.model.epochs
    steps_per_epoch = config.model.steps_per_epoch if steps_per_epoch is None else steps_per_epoch
    keras.utils.set_random_seed(config.model.seed)
    tft_output = tft.TFTransformOutput(transform_graph_dir)
    strategy = choose_strategy()
    batch = config.model.batch_size * strategy.num_replicas_in_sync
    repeat = steps_per_epoch > 0
    train_ds = make_dataset(examples_pattern(transformed_examples_dir, "train"), tft_output, config, batch,
                            repeat=repeat, shuffle=True)
    eval_ds = make_dataset(examples_pattern(transformed_examples_dir, "eval"), tft_output, config, batch,
                           repeat=False, shuffle=False)
    with strategy.scope():
        model = build_model(config, tft_output)
    callbacks = [keras.callbacks.TensorBoard(log_dir=model_run_dir, update_freq="epoch")]
    with step(f"Trainer: {epochs} epoch(s), batch {batch}"):
        start = time.perf_counter()
        history = model.fit(train_ds, validation_data=eval_ds, epochs=epochs,
                            steps_per_epoch=steps_per_epoch or None, callbacks=callbacks, verbose=2)
        seconds = time.perf_counter() - start
    seen = _examples_seen(history, batch, steps_per_epoch, transformed_examples_dir, epochs)
    export_dir = serving_model_dir(model_dir)
    with step("Trainer: exporting the SavedModel with the transform graph"):
        export_serving_model(model, tft_output, config, export_dir)
    final = {k: float(v[-1]) for k, v in history.history.items()}
    result = TrainResult(strategy=type(strategy).__name__,
                         devices=[d.name for d in tf.config.list_logical_devices()],
                         epochs=epochs, train_examples_seen=seen, train_seconds=round(seconds, 2),
                         examples_per_second=round(seen / seconds, 1), final_metrics=final,
                         serving_model_dir=export_dir)
    write_json(os.path.join(model_run_dir, "train_result.json"), asdict(result))
    log.info("Trainer: %s; %.0f examples/s; final %s", result.strategy, result.examples_per_second,
             {k: round(v, 4) for k, v in final.items()})
    return result


def _examples_seen(history, batch: int, steps_per_epoch: int, examples_dir: str, epochs: int) -> int:
    if steps_per_epoch:
        return steps_per_epoch * batch * epochs
    count = sum(1 for _ in tf.data.TFRecordDataset(
        tf.io.gfile.glob(examples_pattern(examples_dir, "train")), compression_type="GZIP"))
    return count * epochs
