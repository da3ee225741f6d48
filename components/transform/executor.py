"""Transform: tf.Transform analyse (train split) + transform (every split) on Beam.

The preprocessing_fn is the user's (user_code.preprocessing_fn, TFX module-file style) or
one generated from the config's feature list. Outputs keep TFX's layouts: the transform
graph (transform_fn/, transformed_metadata/, the raw schema in metadata/, the user's module
file in module/) and transformed examples in Split-<name>/.

The label reaches the preprocessing_fn already encoded by ExampleGen (binary 0/1,
multiclass the class index, regression the number), under label.name; when a user's
preprocessing_fn does not output it, it is passed through as it is.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass, field

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from components.common import without
from components.common.beam import pipeline
from components.common.counts import check_counts, count_records, expected_counts
from components.common.io import file_sha256, gfile, log, read_json, step, write_json
from components.common.readers import load_schema
from components.common.user_code import copy_module_file, load_function
from contracts.artifacts import CUSTOM_CONFIG, EXAMPLE_GEN_SUMMARY, LABEL_INFO, examples_pattern, split_dir
from contracts.config import Bucketize, Hashing, PipelineConfig, Vocabulary, ZScore
from contracts.executor import ExecutorResult
from contracts.signatures import transformed_name


@contextlib.contextmanager
def output_temp_dir(output: str):
    """<output>/.temp_path (TFX's name), removed afterwards, whatever happened."""
    path = os.path.join(output, ".temp_path")
    tf.io.gfile.makedirs(path)
    try:
        yield path
    finally:
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)


@dataclass(frozen=True)
class Inputs:
    examples: str
    schema: str
    beam_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outputs:
    transform_graph: str
    transformed_examples: str


@dataclass
class Result(ExecutorResult):
    preprocessing_fn: str  # "generated", or the user's function
    transformed_features: list[str]
    module_file: str = ""  # the run's copy of user_code.module_file
    module_sha256: str = ""
    split_counts: dict[str, int] = field(default_factory=dict)  # transformed examples written per split


def fill_value(dtype: tf.DType):
    """What an absent value becomes: 0 for numbers, '' for strings. The raw-feature
    serving signature asks JSON clients to send the same value for a missing feature."""
    return "" if dtype == tf.string else tf.zeros([], dtype)


def dense(x, dtype: tf.DType) -> tf.Tensor:
    """A [batch] tensor from a feature that may be sparse (optional in the schema)."""
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=fill_value(dtype)
        )
    return tf.reshape(x, [-1])


def schema_dtypes(schema: schema_pb2.Schema) -> dict[str, tf.DType]:
    kinds = {schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32, schema_pb2.BYTES: tf.string}
    return {f.name: kinds[f.type] for f in schema.feature}


def generated_preprocessing_fn(config: PipelineConfig, schema: schema_pb2.Schema):
    """The preprocessing_fn the config's feature list describes."""
    dtypes = schema_dtypes(schema)

    def preprocessing_fn(inputs):
        outputs = {}
        for spec in config.features:
            x = dense(inputs[spec.name], dtypes[spec.name])
            name = transformed_name(spec.name)
            if isinstance(spec, ZScore):
                outputs[name] = tft.scale_to_z_score(tf.cast(x, tf.float32))
            elif isinstance(spec, Bucketize):
                outputs[name] = tft.bucketize(tf.cast(x, tf.float32), spec.buckets)
            elif isinstance(spec, Vocabulary):
                outputs[name] = tft.compute_and_apply_vocabulary(
                    x, top_k=spec.top_k, num_oov_buckets=spec.oov_buckets, vocab_filename=spec.name
                )
            elif isinstance(spec, Hashing):
                text = x if x.dtype == tf.string else tf.strings.as_string(x)
                outputs[name] = tf.strings.to_hash_bucket_fast(text, spec.hash_buckets)
        return outputs

    return preprocessing_fn


def custom_config(config: PipelineConfig, label: dict) -> dict:
    """What a user's preprocessing_fn(inputs, custom_config) and run_fn(fn_args) get to know:
    the label as configured and as ExampleGen found it (classes, counts), features, model."""
    return {
        "label": config.label.model_dump(mode="json", exclude_none=True) | label,
        "features": [f.model_dump(mode="json") for f in config.features],
        "model": config.model.model_dump(mode="json"),
    }


def with_label(preprocessing_fn, config: PipelineConfig, schema: schema_pb2.Schema, extra: dict):
    """Calls preprocessing_fn(inputs) or preprocessing_fn(inputs, custom_config) and passes the
    label through (dense, [batch]) unless it outputs one itself."""
    label, dtypes = config.label.name, schema_dtypes(schema)
    takes_config = len(inspect.signature(preprocessing_fn).parameters) >= 2

    def wrapped(inputs):
        outputs = dict(preprocessing_fn(inputs, extra) if takes_config else preprocessing_fn(inputs))
        if label not in outputs:
            outputs[label] = dense(inputs[label], dtypes[label])
        return outputs

    return wrapped


class _EncodeExamples(beam.DoFn):
    """Arrow record batches from tf.Transform -> serialized tf.Examples."""

    def __init__(self, schema: schema_pb2.Schema):
        self._schema = schema

    def setup(self):
        self._encoder = example_coder.RecordBatchToExamplesEncoder(self._schema)

    def process(self, batch_and_passthrough):
        yield from self._encoder.encode(batch_and_passthrough[0])


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    schema = load_schema(inputs.schema)
    code = config.user_code
    result = Result(preprocessing_fn="generated", transformed_features=[])
    module_path = None
    if code.module_file:
        module_path = copy_module_file(code, outputs.transform_graph)
        result.module_file, result.module_sha256 = module_path, file_sha256(module_path)
    if code.preprocessing_fn:
        user_fn = load_function(code, "preprocessing_fn", module_path)
        result.preprocessing_fn = code.preprocessing_fn
        log.info(
            "Transform: the user's preprocessing_fn %s%s",
            code.preprocessing_fn,
            f" from {code.module_file}" if code.module_file else "",
        )
    else:
        user_fn = generated_preprocessing_fn(config, schema)
    label = read_json(os.path.join(inputs.examples, EXAMPLE_GEN_SUMMARY))["label"]
    extra = custom_config(config, label)
    preprocessing_fn = with_label(user_fn, config, schema, extra)
    splits = config.split.names
    others = [s for s in splits if s != "train"]
    # tf.Transform's temp files beside its output, as TFX keeps them: on Dataflow or Flink every
    # worker must reach them, which a pod's own temp directory is not.
    with step("Transform: analyse train, transform every split"), output_temp_dir(outputs.transform_graph) as tmp:
        # Beam's notebook check imports IPython (~1 CPU-s) unless it is declined: not a notebook.
        with without("IPython"), pipeline(list(inputs.beam_args)) as p, tft_beam.Context(temp_dir=tmp):

            def read(split):
                source = tfxio.TFExampleRecord(
                    file_pattern=examples_pattern(inputs.examples, split),
                    schema=schema,
                    telemetry_descriptors=["tabml"],
                )
                return (p | f"Read[{split}]" >> source.BeamSource(), source.TensorAdapterConfig())

            (train, metadata), transform_fn = read("train") | "Analyze" >> tft_beam.AnalyzeAndTransformDataset(
                preprocessing_fn, output_record_batches=True
            )
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(outputs.transform_graph)
            transformed = {"train": train}
            for split in others:
                (data, _) = (read(split), transform_fn) | f"Transform[{split}]" >> tft_beam.TransformDataset(
                    output_record_batches=True
                )
                transformed[split] = data
            for split, data in transformed.items():
                _ = (
                    data
                    | f"Encode[{split}]" >> beam.ParDo(_EncodeExamples(metadata.schema))
                    | f"Write[{split}]"
                    >> beam.io.WriteToTFRecord(
                        os.path.join(split_dir(outputs.transformed_examples, split), "transformed_examples"),
                        file_name_suffix=".gz",
                        num_shards=1,
                    )
                )
    # Every example through: a split written short by the runner fails here, before the Trainer.
    # The count reads the output once more in this pod: ~1.5 s per million examples, plus the
    # download from gs:// on a remote runner.
    out = outputs.transformed_examples
    written = {s: count_records(gfile(out).glob(examples_pattern(out, s))) for s in splits}
    check_counts("Transform", "the transformed examples", written, expected_counts(inputs.examples), inputs.beam_args)
    result.split_counts = written
    # TFX also keeps the raw schema beside the graph (TFTransformOutput.raw_feature_spec reads it).
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        os.path.join(outputs.transform_graph, tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    write_json(os.path.join(outputs.transform_graph, LABEL_INFO), label)
    write_json(os.path.join(outputs.transform_graph, CUSTOM_CONFIG), extra)
    result.transformed_features = sorted(tft.TFTransformOutput(outputs.transform_graph).transformed_feature_spec())
    log.info(
        "Transform: %d transformed features; graph in %s", len(result.transformed_features), outputs.transform_graph
    )
    return result
