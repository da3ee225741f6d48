"""The Trainer's input: Transform's transformed_examples (TFX layout: Split-<name>/*.gz, gzipped
TFRecords of tf.Examples) as batches of the model's inputs and the label.

A split whose transformed features all have a fixed shape and fit in IN_MEMORY_BYTES is read
once, parsed in large batches (tf.io.parse_example on batches, never one example at a time)
into one tensor per feature, and every epoch is a shuffled permutation of row indices gathered
batch by batch: no file is read or example parsed twice, and its row count comes from the
tensors (no counting pass). Larger or sparse splits stream from the files (parallel reads,
batch-then-parse, prefetch).

Records reach tf.data in batches: one element per record through a parallel interleave cost
~4 us of CPU each, as much as decompressing and parsing the record (1M rows: ~4 s a pass).
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
# Files read at once, a constant: the rows' order (which the seeded shuffle permutes) must not
# depend on the machine, or workers with different core counts would hold different orders.
_PARALLEL_FILES = 4


def _record_batches(files: list[str]) -> tf.data.Dataset:
    """Serialized records in batches of up to _PARSE_BATCH, in an order fixed by the file names:
    each file batched on its own, batches taken from _PARALLEL_FILES files in turn."""
    names = sorted(f for pattern in files for f in tf.io.gfile.glob(pattern))

    def per_file(name) -> tf.data.Dataset:
        return tf.data.TFRecordDataset(name, compression_type="GZIP").batch(_PARSE_BATCH)

    if len(names) <= 1:
        return per_file(names or tf.constant([], tf.string))
    return tf.data.Dataset.from_tensor_slices(names).interleave(
        per_file,
        cycle_length=min(len(names), _PARALLEL_FILES),
        num_parallel_calls=min(len(names), _PARALLEL_FILES),
        deterministic=True,
    )


def count_records(files: list[str]) -> int:
    sizes = _record_batches(files).map(lambda b: tf.size(b, out_type=tf.int64))
    return int(sizes.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))


def parsed_batches(files: list[str], spec: dict) -> tf.data.Dataset:
    return _record_batches(files).map(lambda b: tf.io.parse_example(b, spec), tf.data.AUTOTUNE)


def _row_bytes(spec: dict) -> int | None:
    """Bytes a row takes in memory; None when a feature is not one fixed-shape tensor."""
    total = 0
    for feature in spec.values():
        if not isinstance(feature, tf.io.FixedLenFeature) or None in feature.shape:
            return None
        size = int(np.prod(feature.shape or [1]))
        total += size * (32 if feature.dtype == tf.string else feature.dtype.size)
    return total


def load_columns(files: list[str], spec: dict, rows: int | None = None) -> dict[str, tf.Tensor] | None:
    """The whole split as one tensor per feature, or None when it should stream instead: its
    features are not all fixed-shape, or its `rows` (unknown: found while reading, which stops
    once they are too many) would take more than IN_MEMORY_BYTES."""
    row_bytes = _row_bytes(spec)
    if row_bytes is None or (rows or 0) * row_bytes > IN_MEMORY_BYTES:
        return None
    parts, held = [], 0
    for part in parsed_batches(files, spec):
        held += int(next(iter(part.values())).shape[0])
        if held * row_bytes > IN_MEMORY_BYTES:
            return None
        parts.append(part)
    if not parts:
        return {name: tf.zeros([0, *f.shape], f.dtype) for name, f in spec.items()}
    return {name: tf.concat([p[name] for p in parts], 0) for name in spec}


def column_rows(columns: dict[str, tf.Tensor]) -> int:
    return int(next(iter(columns.values())).shape[0])


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
        rows = column_rows(columns)
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
