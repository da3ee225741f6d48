"""SchemaGen: the curated schema named by the config, or one inferred by TFDV from the
training statistics; written as schema.pbtxt (TFX's layout)."""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.common.io import log, read_text
from components.statistics_gen.executor import load_split_stats
from pipelines.config import PipelineConfig

SCHEMA_FILE = "schema.pbtxt"


class SchemaError(ValueError):
    """A schema that does not fit the config."""


def schema_path(schema_dir: str) -> str:
    return os.path.join(schema_dir, SCHEMA_FILE)


def load_schema(schema_dir_or_file: str) -> schema_pb2.Schema:
    path = schema_dir_or_file if schema_dir_or_file.endswith(".pbtxt") else schema_path(schema_dir_or_file)
    if not tf.io.gfile.exists(path):
        raise SchemaError(f"schema file not found: {path} (validation.schema_path in the config)")
    try:
        return text_format.Parse(read_text(path), schema_pb2.Schema())
    except text_format.ParseError as err:
        raise SchemaError(f"{path}: not a valid schema.pbtxt: {err}") from None


def check_schema_covers_config(schema: schema_pb2.Schema, config: PipelineConfig, origin: str) -> None:
    types = {f.name: f.type for f in schema.feature}
    needed = config.feature_names + [config.label.name]
    missing = [n for n in needed if n not in types]
    if missing:
        raise SchemaError(f"{origin}: no schema feature for configured feature(s) {missing}")
    numeric = (schema_pb2.INT, schema_pb2.FLOAT)
    for spec in config.features:
        if spec.transform in ("zscore", "bucketize") and types[spec.name] not in numeric:
            raise SchemaError(f"{origin}: features: '{spec.name}' is {schema_pb2.FeatureType.Name(types[spec.name])} "
                              f"but transform '{spec.transform}' needs a number; use vocabulary or hash")


def run(config: PipelineConfig, statistics_dir: str, output_dir: str) -> schema_pb2.Schema:
    if config.validation.schema_path:
        origin = config.validation.schema_path
        schema = load_schema(origin)
        log.info("SchemaGen: using the curated schema %s", origin)
    else:
        origin = "inferred schema"
        schema = tfdv.infer_schema(load_split_stats(statistics_dir, "train"), infer_feature_shape=False)
        log.info("SchemaGen: inferred a schema from the train split's statistics")
    check_schema_covers_config(schema, config, origin)
    os.makedirs(output_dir, exist_ok=True)
    tfdv.write_schema_text(schema, schema_path(output_dir))
    return schema
