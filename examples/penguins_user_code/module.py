"""A TFX-style module file for the penguins example: the user's own preprocessing_fn and
run_fn, named in config.yaml under user_code. tabml copies this file into the run's
artifacts and imports it from there, as TFX's Transform and Trainer do with module_file.

preprocessing_fn(inputs, custom_config): tf.Transform, raw features in, transformed out.
  The label arrives already encoded (the class index) under custom_config["label"]["name"];
  it is passed through when not returned.
run_fn(fn_args): trains and saves the SavedModel to fn_args.serving_model_dir. fn_args has
  TFX's FnArgs fields (train_files, eval_files, train_steps, eval_steps, transform_output,
  serving_model_dir, model_run_dir, schema_file, data_accessor, custom_config) plus label_key,
  task, classes and export_serving_model(model), which saves both serving signatures.
"""

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORIES = ["island", "sex"]


def _dense(x, default):
    """[batch] from a feature that may be absent in some rows (a SparseTensor)."""
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default)
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs, custom_config):
    outputs = {}
    for name in MEASUREMENTS:
        outputs[name] = tft.scale_to_z_score(tf.cast(_dense(inputs[name], 0), tf.float32))
    # Bill shape: length over depth separates the species well.
    ratio = tf.cast(_dense(inputs["bill_length_mm"], 0), tf.float32) / tf.maximum(
        tf.cast(_dense(inputs["bill_depth_mm"], 1), tf.float32), 1.0
    )
    outputs["bill_ratio"] = tft.scale_to_z_score(ratio)
    for name in CATEGORIES:
        outputs[name] = tft.compute_and_apply_vocabulary(
            _dense(inputs[name], ""), num_oov_buckets=1, vocab_filename=name
        )
    return outputs


def _dataset(fn_args, files, tft_output, batch_size):
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=fn_args.label_key)
    return fn_args.data_accessor.tf_dataset_factory(files, options, tft_output.transformed_metadata.schema)


def run_fn(fn_args):
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    numeric = MEASUREMENTS + ["bill_ratio"]
    inputs = {n: keras.Input(shape=(1,), name=n, dtype=tf.float32) for n in numeric}
    parts = [inputs[n] for n in numeric]
    for name in CATEGORIES:
        inputs[name] = keras.Input(shape=(1,), name=name, dtype=tf.int64)
        size = tft_output.vocabulary_size_by_name(name) + 1
        parts.append(keras.layers.Flatten()(keras.layers.Embedding(size, 2)(inputs[name])))
    x = keras.layers.Dense(8, activation="relu")(keras.layers.concatenate(parts))
    output = keras.layers.Dense(len(fn_args.classes), activation="softmax")(x)
    model = keras.Model(inputs, output)
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    # TFX's datasets repeat: the step counts (computed for model.batch_size) bound each epoch.
    batch_size = fn_args.custom_config["model"]["batch_size"]
    train = _dataset(fn_args, fn_args.train_files, tft_output, batch_size)
    evaluation = _dataset(fn_args, fn_args.eval_files, tft_output, batch_size)
    steps = max(1, fn_args.train_steps // fn_args.epochs)
    model.fit(
        train.map(_as_columns),
        steps_per_epoch=steps,
        epochs=fn_args.epochs,
        validation_data=evaluation.map(_as_columns),
        validation_steps=fn_args.eval_steps,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)],
    )
    fn_args.export_serving_model(model)


def _as_columns(features, label):
    """tfxio gives [batch, 1] dense features: the model's inputs as they are."""
    return features, label
