"""The Trainer's input: Transform's transformed_examples (TFX layout: Split-<name>/*.gz, gzipped
TFRecords of tf.Examples) as batches of the model's inputs and the label.

A split whose transformed features all have a fixed shape and fit in IN_MEMORY_BYTES is read
once, parsed in large batches (tf.io.parse_example on batches, never one example at a time)
into one tensor per feature, and every epoch is a shuffled permutation of row indices gathered
batch by batch: no file is read or example parsed twice. Larger or sparse splits stream from the
files (parallel reads, batch-then-parse, prefetch).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from components.trainer.export import as_model_inputs

# Above this a split streams from the files. Also what keeps the dataset graph small: tf.distribute
# serializes it for each worker, and a graph proto holds at most 2 GiB.
IN_MEMORY_BYTES = 256 * 2**20
_PARSE_BATCH = 8192


def _records(files: list[str]) -> tf.data.TFRecordDataset:
    return tf.data.TFRecordDataset(
        [f for pattern in files for f in tf.io.gfile.glob(pattern)],
        compression_type="GZIP",
        num_parallel_reads=tf.data.AUTOTUNE,
    )


def count_records(files: list[str]) -> int:
    batches = _records(files).batch(_PARSE_BATCH).map(lambda b: tf.size(b, out_type=tf.int64))
    return int(batches.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))


def parsed_batches(files: list[str], spec: dict) -> tf.data.Dataset:
    return _records(files).batch(_PARSE_BATCH).map(lambda b: tf.io.parse_example(b, spec), tf.data.AUTOTUNE)


def _row_bytes(spec: dict) -> int | None:
    """Bytes a row takes in memory; None when a feature is not one fixed-shape tensor."""
    total = 0
    for feature in spec.values():
        if not isinstance(feature, tf.io.FixedLenFeature) or None in feature.shape:
            return None
        size = int(np.prod(feature.shape or [1]))
        total += size * (32 if feature.dtype == tf.string else feature.dtype.size)
    return total


def load_columns(files: list[str], spec: dict, rows: int) -> dict[str, tf.Tensor] | None:
    """The whole split as one tensor per feature, or None when it should stream instead."""
    row_bytes = _row_bytes(spec)
    if row_bytes is None or rows * row_bytes > IN_MEMORY_BYTES:
        return None
    parts = list(parsed_batches(files, spec))
    if not parts:
        return {name: tf.zeros([0, *f.shape], f.dtype) for name, f in spec.items()}
    return {name: tf.concat([p[name] for p in parts], 0) for name in spec}


def _with_label(features: dict, label: str, input_names: list[str]):
    features = dict(features)
    y = features.pop(label)
    return as_model_inputs(features, input_names), y


def dataset(
    files: list[str],
    columns: dict[str, tf.Tensor] | None,
    spec: dict,
    label: str,
    input_names: list[str],
    batch: int,
    shuffle: bool,
    repeat: bool,
    seed: int,
) -> tuple[tf.data.Dataset, int | None]:
    """Batches of (model inputs, label), and the steps that make one pass (None: until the data
    ends). From `columns` when the split was loaded: an endless series of passes, each
    reshuffled and ending with its partial batch, so one iterator serves every epoch (Keras
    makes a new one per epoch, twice for the first, when a dataset ends). Else from the files.
    The same seed gives the same order in every process: multi-worker sharding relies on it."""
    if columns is not None:
        rows = int(next(iter(columns.values())).shape[0])
        ds = tf.data.Dataset.range(rows)
        if shuffle:
            ds = ds.shuffle(max(rows, 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch).repeat()
        # A gather per batch: one thread keeps up, and the tf.data autotuner's threads only take
        # CPU from the training step.
        ds = ds.map(lambda idx: _with_label({n: tf.gather(t, idx) for n, t in columns.items()}, label, input_names))
        options = tf.data.Options()
        options.autotune.enabled = False
        # Every worker holds the rows: each takes its part of every global batch.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(2), max(1, math.ceil(rows / batch))
    ds = tf.data.experimental.make_batched_features_dataset(
        file_pattern=files,
        batch_size=batch,
        features=spec,
        reader=lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        label_key=label,
        num_epochs=None if repeat else 1,
        shuffle=shuffle,
        shuffle_seed=seed,
        reader_num_threads=tf.data.AUTOTUNE,
        parser_num_threads=tf.data.AUTOTUNE,
        sloppy_ordering=False,
    ).map(lambda f, y: (as_model_inputs(f, input_names), y))
    return ds.prefetch(tf.data.AUTOTUNE), None
