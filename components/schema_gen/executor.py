"""SchemaGen: the curated schema named by the config, or one inferred by TFDV from the
training statistics; written as schema.pbtxt (TFX's layout)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.io import log, write_text
from components.common.readers import SchemaError, load_schema, load_split_stats
from contracts.artifacts import schema_path
from contracts.config import PipelineConfig, RawFeature
from contracts.executor import ExecutorResult

_NUMERIC = (schema_pb2.INT, schema_pb2.FLOAT)
_LABEL_TYPES = {"binary": (schema_pb2.INT,), "multiclass": (schema_pb2.INT,), "regression": _NUMERIC}


@dataclass(frozen=True)
class Inputs:
    statistics: str


@dataclass(frozen=True)
class Outputs:
    schema: str


@dataclass
class Result(ExecutorResult):
    origin: str  # the curated schema's path, or "inferred"
    features: int


def check_schema_covers_config(schema: schema_pb2.Schema, config: PipelineConfig, origin: str) -> None:
    """Every configured feature and the label are in the schema, with types their use needs."""
    types = {f.name: f.type for f in schema.feature}
    label = config.label
    missing = [n for n in config.feature_names + [label.name] if n not in types]
    if missing:
        raise SchemaError(f"{origin}: no schema feature for configured feature(s) {missing}")
    if types[label.name] not in _LABEL_TYPES[label.task]:
        kind = schema_pb2.FeatureType.Name(types[label.name])
        raise SchemaError(
            f"{origin}: label '{label.name}' is {kind}, but ExampleGen writes a {label.task} label as "
            f"{'FLOAT' if label.task == 'regression' else 'INT (0/1 or the class index)'}"
        )
    for spec in config.features:
        if isinstance(spec, RawFeature):
            continue
        if spec.transform in ("zscore", "bucketize") and types[spec.name] not in _NUMERIC:
            raise SchemaError(
                f"{origin}: features: '{spec.name}' is {schema_pb2.FeatureType.Name(types[spec.name])} "
                f"but transform '{spec.transform}' needs a number; use vocabulary or hash"
            )


def relax_inferred(schema: schema_pb2.Schema, config: PipelineConfig) -> schema_pb2.Schema:
    """An inferred schema keeps what one training split can tell: each column's type, and that
    the columns the model and the label read are there. TFDV's inferred string domains and
    presence fractions would fail the eval split (or tomorrow's data) on any category or gap
    the training split happened not to show; a curated schema states those on purpose."""
    needed = set(config.feature_names) | {config.label.name}
    for feature in schema.feature:
        feature.ClearField("domain")
        feature.presence.ClearField("min_fraction")
        feature.presence.min_count = 1 if feature.name in needed else 0
    del schema.string_domain[:]
    return schema


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    if config.validation.schema_path:
        origin = config.validation.schema_path
        schema = load_schema(origin)
        log.info("SchemaGen: using the curated schema %s", origin)
    else:
        import tensorflow_data_validation as tfdv  # only to infer: a curated schema needs none of it

        origin = "inferred"
        schema = relax_inferred(
            tfdv.infer_schema(load_split_stats(inputs.statistics, "train"), infer_feature_shape=False), config
        )
        log.info("SchemaGen: inferred a schema from the train split's statistics (types and required columns)")
    check_schema_covers_config(schema, config, origin)
    os.makedirs(outputs.schema, exist_ok=True)
    write_text(schema_path(outputs.schema), text_format.MessageToString(schema))  # as tfdv.write_schema_text
    return Result(origin=origin, features=len(schema.feature))
