"""Exports a trained Keras model with the tf.Transform graph inside, so callers send raw
features, as one SavedModel with two signatures (contracts/signatures.py):
  - serving_default: serialized tf.Examples under the input "examples" (TFMA, TF Serving);
  - serving_raw: one named [batch] tensor per raw feature (JSON clients). A missing value
    is sent as the column's fill value (0 / ""), which is what the transform substitutes
    for an absent feature in a tf.Example; both signatures then agree exactly.
Outputs per task: binary "probabilities" [batch]; multiclass "probabilities" [batch, K]
and "classes" [batch, K]; regression "predictions" [batch].
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from contracts.signatures import CLASSES, EXAMPLES_INPUT, PREDICTION_KEY, SERVING_DEFAULT, SERVING_RAW


def model_input_names(model: keras.Model, tft_output: tft.TFTransformOutput, label: str) -> list[str]:
    names = getattr(model, "input_names", None)
    return list(names) if names else sorted(n for n in tft_output.transformed_feature_spec() if n != label)


def as_model_inputs(transformed: dict, names: list[str]) -> dict:
    """Transformed tensors -> the model's inputs: [batch] becomes [batch, 1]."""
    return {n: tf.expand_dims(transformed[n], -1) if transformed[n].shape.rank == 1 else transformed[n] for n in names}


def export_serving_model(
    model: keras.Model,
    tft_output: tft.TFTransformOutput,
    raw_features: list[str],
    label: str,
    task: str,
    classes: list[str],
    export_dir: str,
) -> None:
    model.tft_layer = tft_output.transform_features_layer()  # tracked: saved with the model
    raw_spec = tft_output.raw_feature_spec()
    missing = [n for n in raw_features if n not in raw_spec]
    if missing:
        raise ValueError(f"features {missing} are not in the raw schema the transform graph was built with")
    raw_specs = {n: raw_spec[n] for n in raw_features}
    input_names = model_input_names(model, tft_output, label)
    output_key = PREDICTION_KEY[task]
    class_names = tf.constant(classes or [""], dtype=tf.string)

    def predict(raw: dict) -> dict:
        transformed = model.tft_layer(raw)
        scores = model(as_model_inputs(transformed, input_names))
        if task != "multiclass":
            return {output_key: tf.reshape(scores, [-1])}
        rows = tf.shape(scores)[0]
        return {output_key: scores, CLASSES: tf.tile(class_names[tf.newaxis, :], [rows, 1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
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

    signatures = {
        SERVING_DEFAULT: serve_tf_examples.get_concrete_function(),
        SERVING_RAW: serve_raw.get_concrete_function(),
    }
    model.save(export_dir, save_format="tf", signatures=signatures)


def check_exported_model(export_dir: str, task: str) -> None:
    """A user's run_fn must leave what the Evaluator and the predictor read."""
    if not tf.io.gfile.exists(f"{export_dir}/saved_model.pb"):
        raise ValueError(f"run_fn saved no SavedModel in fn_args.serving_model_dir ({export_dir})")
    loaded = tf.saved_model.load(export_dir)
    hint = "export with fn_args.export_serving_model(model), or see docs/user-code.md"
    for name in (SERVING_DEFAULT, SERVING_RAW):
        if name not in loaded.signatures:
            raise ValueError(
                f"the SavedModel in {export_dir} has no '{name}' signature (has {sorted(loaded.signatures)}); {hint}"
            )
    # What each task's consumers read: the score (rank 1, or [batch, classes]) and the class names.
    required = {PREDICTION_KEY[task]: (tf.float32, 2 if task == "multiclass" else 1)}
    if task == "multiclass":
        required[CLASSES] = (tf.string, 2)
    for name in (SERVING_DEFAULT, SERVING_RAW):
        outputs = loaded.signatures[name].structured_outputs
        for key, (dtype, rank) in required.items():
            spec = outputs.get(key)
            if spec is None or spec.dtype != dtype or spec.shape.rank != rank:
                found = {k: f"{v.dtype.name} rank {v.shape.rank}" for k, v in outputs.items()}
                raise ValueError(
                    f"'{name}' returns {found}; a {task} model must return '{key}' as {dtype.name} of "
                    f"rank {rank}; {hint}"
                )
