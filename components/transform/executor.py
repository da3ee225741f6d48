"""Transform: tf.Transform analyse (train split) + transform (every split) on Beam.

The preprocessing_fn is built from the config's feature list, so there is no module file
to keep in step with the config. Outputs keep TFX's layouts: the transform graph
(transform_fn/, transformed_metadata/) and transformed examples in Split-<name>/.
"""

from __future__ import annotations

import os
import tempfile

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from components.common.beam import pipeline
from components.common.io import examples_pattern, log, split_dir, step
from components.schema_gen.executor import load_schema
from pipelines.config import Bucketize, Hashing, PipelineConfig, Vocabulary, ZScore

TRANSFORMED_SUFFIX = "_xf"


def transformed_name(feature: str) -> str:
    return feature + TRANSFORMED_SUFFIX


def fill_value(dtype: tf.DType):
    """What an absent value becomes: 0 for numbers, '' for strings. The raw-feature
    serving signature asks JSON clients to send the same value for a missing feature."""
    return "" if dtype == tf.string else tf.zeros([], dtype)


def _dense(x, dtype: tf.DType) -> tf.Tensor:
    """A [batch] tensor from a feature that may be sparse (optional in the schema)."""
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
                               default_value=fill_value(dtype))
    return tf.reshape(x, [-1])


def schema_dtypes(schema: schema_pb2.Schema) -> dict[str, tf.DType]:
    kinds = {schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32, schema_pb2.BYTES: tf.string}
    return {f.name: kinds[f.type] for f in schema.feature}


def make_preprocessing_fn(config: PipelineConfig, schema: schema_pb2.Schema):
    dtypes = schema_dtypes(schema)
    label = config.label.name

    def preprocessing_fn(inputs):
        outputs = {}
        for spec in config.features:
            x = _dense(inputs[spec.name], dtypes[spec.name])
            name = transformed_name(spec.name)
            if isinstance(spec, ZScore):
                outputs[name] = tft.scale_to_z_score(tf.cast(x, tf.float32))
            elif isinstance(spec, Bucketize):
                outputs[name] = tft.bucketize(tf.cast(x, tf.float32), spec.buckets)
            elif isinstance(spec, Vocabulary):
                outputs[name] = tft.compute_and_apply_vocabulary(
                    x, top_k=spec.top_k, num_oov_buckets=spec.oov_buckets, vocab_filename=spec.name)
            elif isinstance(spec, Hashing):
                text = x if x.dtype == tf.string else tf.strings.as_string(x)
                outputs[name] = tf.strings.to_hash_bucket_fast(text, spec.hash_buckets)
        outputs[label] = _dense(inputs[label], dtypes[label])
        return outputs

    return preprocessing_fn


class _EncodeExamples(beam.DoFn):
    """Arrow record batches from tf.Transform -> serialized tf.Examples."""

    def __init__(self, schema: schema_pb2.Schema):
        self._schema = schema

    def setup(self):
        self._encoder = example_coder.RecordBatchToExamplesEncoder(self._schema)

    def process(self, batch_and_passthrough):
        yield from self._encoder.encode(batch_and_passthrough[0])


def run(config: PipelineConfig, examples_dir: str, schema_dir: str, transform_graph_dir: str,
        transformed_examples_dir: str, splits: list[str], beam_args: list[str] | None = None) -> None:
    schema = load_schema(schema_dir)
    preprocessing_fn = make_preprocessing_fn(config, schema)
    others = [s for s in splits if s != "train"]
    with step("Transform: analyse train, transform every split"), tempfile.TemporaryDirectory() as tmp:
        with pipeline(beam_args) as p, tft_beam.Context(temp_dir=tmp):
            def read(split):
                source = tfxio.TFExampleRecord(file_pattern=examples_pattern(examples_dir, split),
                                               schema=schema, telemetry_descriptors=["taxi_mlops"])
                return (p | f"Read[{split}]" >> source.BeamSource(), source.TensorAdapterConfig())

            (train, metadata), transform_fn = (
                read("train") | "Analyze" >> tft_beam.AnalyzeAndTransformDataset(
                    preprocessing_fn, output_record_batches=True))
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_graph_dir)
            transformed = {"train": train}
            for split in others:
                (data, _) = ((read(split), transform_fn)
                             | f"Transform[{split}]" >> tft_beam.TransformDataset(output_record_batches=True))
                transformed[split] = data
            for split, data in transformed.items():
                _ = (data
                     | f"Encode[{split}]" >> beam.ParDo(_EncodeExamples(metadata.schema))
                     | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                         os.path.join(split_dir(transformed_examples_dir, split), "transformed_examples"),
                         file_name_suffix=".gz", num_shards=1))
    # TFX also keeps the raw schema beside the graph (TFTransformOutput.raw_feature_spec reads it).
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema),
                               os.path.join(transform_graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    log.info("Transform: %d transformed features; graph in %s",
             len(config.features), transform_graph_dir)
