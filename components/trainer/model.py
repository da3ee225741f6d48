"""The generated model: an embedding per categorical input, numeric inputs as they are,
dense hidden layers, and the task's head, loss and training metrics."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow_metadata.proto.v0 import schema_pb2

from contracts.config import Bucketize, Hashing, PipelineConfig, Vocabulary, ZScore
from contracts.signatures import transformed_name


@dataclass(frozen=True)
class ModelInput:
    name: str  # the transformed feature
    cardinality: int = 0  # > 0: categorical ids in [0, cardinality), embedded


class ModelInputError(ValueError):
    """A transformed feature the generated model cannot take."""


def inputs_from_config(config: PipelineConfig, tft_output: tft.TFTransformOutput) -> list[ModelInput]:
    """The generated preprocessing_fn's outputs: the config says what each one is."""
    found = []
    for spec in config.features:
        name = transformed_name(spec.name)
        if isinstance(spec, ZScore):
            found.append(ModelInput(name))
        elif isinstance(spec, Vocabulary):
            found.append(ModelInput(name, tft_output.vocabulary_size_by_name(spec.name) + spec.oov_buckets))
        elif isinstance(spec, Bucketize):
            found.append(ModelInput(name, spec.buckets))
        elif isinstance(spec, Hashing):
            found.append(ModelInput(name, spec.hash_buckets))
    return found


def inputs_from_schema(tft_output: tft.TFTransformOutput, label: str) -> list[ModelInput]:
    """A user preprocessing_fn's outputs: integers with an int domain (tft.compute_and_apply_vocabulary,
    tft.bucketize) are categorical; other numbers are numeric."""
    schema = tft_output.transformed_metadata.schema
    found = []
    for feature in schema.feature:
        if feature.name == label:
            continue
        if feature.type == schema_pb2.BYTES:
            raise ModelInputError(
                f"the preprocessing_fn outputs '{feature.name}' as strings; the generated model "
                "takes numbers: map it to ids (tft.compute_and_apply_vocabulary) or bring a run_fn"
            )
        if feature.type == schema_pb2.INT and feature.HasField("int_domain") and feature.int_domain.max > 0:
            found.append(ModelInput(feature.name, int(feature.int_domain.max) + 1))
        else:
            found.append(ModelInput(feature.name))
    return found


def build_model(
    config: PipelineConfig,
    inputs: list[ModelInput],
    classes: list[str],
    label_mean: float = 0.0,
    label_std: float = 1.0,
    steps_per_execution: int = 1,
) -> keras.Model:
    task, spec = config.label.task, config.model
    layers, parts = {}, []
    for item in inputs:
        if item.cardinality:
            layers[item.name] = keras.Input(shape=(1,), name=item.name, dtype=tf.int64)
            emb = keras.layers.Embedding(item.cardinality, spec.embedding_dim, name=f"{item.name}_embedding")(
                layers[item.name]
            )
            parts.append(keras.layers.Flatten()(emb))
        else:
            layers[item.name] = keras.Input(shape=(1,), name=item.name, dtype=tf.float32)
            parts.append(layers[item.name])
    x = keras.layers.concatenate(parts) if len(parts) > 1 else parts[0]
    for i, units in enumerate(spec.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    optimizer = keras.optimizers.Adam(spec.learning_rate)
    if task == "binary":
        output = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
        loss, metrics = (
            keras.losses.BinaryCrossentropy(),
            [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        )
    elif task == "multiclass":
        output = keras.layers.Dense(len(classes), activation="softmax", name="class_probabilities")(x)
        loss, metrics = (
            keras.losses.SparseCategoricalCrossentropy(),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    else:
        # The head learns a standardised label; a fixed layer maps it back to the label's scale.
        scaled = keras.layers.Dense(1, name="standardised_prediction")(x)
        output = keras.layers.Rescaling(label_std, offset=label_mean, name="prediction")(scaled)
        loss, metrics = (
            keras.losses.MeanSquaredError(),
            [keras.metrics.MeanAbsoluteError(name="mae"), keras.metrics.RootMeanSquaredError(name="rmse")],
        )
    model = keras.Model(inputs=layers, outputs=output)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, steps_per_execution=steps_per_execution)
    return model
