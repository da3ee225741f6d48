"""Readers of the artifacts whose layout contracts/artifacts.py names, for the steps that
consume them (TFDV's protos need the pipeline environment's libraries)."""

from __future__ import annotations

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.common.io import gfile, read_text
from contracts.artifacts import schema_path, stats_path


class SchemaError(ValueError):
    """A schema that is missing, unreadable or does not fit the config."""


def load_schema(schema_dir_or_file: str) -> schema_pb2.Schema:
    path = schema_path(schema_dir_or_file)
    if not gfile(path).exists(path):
        raise SchemaError(f"schema file not found: {path} (validation.schema_path in the config)")
    try:
        return text_format.Parse(read_text(path), schema_pb2.Schema())
    except text_format.ParseError as err:
        raise SchemaError(f"{path}: not a valid schema.pbtxt: {err}") from None


def load_split_stats(stats_root: str, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    # What tfdv.load_stats_binary does, without importing TFDV (and TensorFlow) to do it.
    path = stats_path(stats_root, split)
    with gfile(path).GFile(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
