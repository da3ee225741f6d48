"""What keeps the Trainer fast on large splits without changing its model: one reading pass per
split for the generated run_fn, rows in an order fixed by the files (not by the machine's
cores), the in-memory budget found while reading, and several train steps per call."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.trainer import data, executor
from contracts.artifacts import examples_pattern

SPEC = {"x": tf.io.FixedLenFeature([], tf.int64), "y": tf.io.FixedLenFeature([], tf.float32)}


def _write_shard(path, values) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for v in values:
            feature = {
                "x": tf.train.Feature(int64_list=tf.train.Int64List(value=[v])),
                "y": tf.train.Feature(float_list=tf.train.FloatList(value=[v / 2])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def _shards(tmp_path) -> list[str]:
    """Three shards of five rows, 0..14 in the files' name order, written out of that order."""
    for name, start in (("c", 10), ("a", 0), ("b", 5)):
        _write_shard(tmp_path / f"part-{name}.gz", range(start, start + 5))
    return [str(tmp_path / "part-*.gz")]


def test_rows_come_in_the_files_order_batch_by_batch(tmp_path, monkeypatch):
    files = _shards(tmp_path)
    monkeypatch.setattr(data, "_PARSE_BATCH", 4)
    columns = data.load_columns(files, SPEC)
    # Batches of 4 from each file in turn: an order that no core count changes (each worker of a
    # multi-worker run must hold the same one).
    expected = [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 4, 9, 14]
    np.testing.assert_array_equal(columns["x"].numpy(), expected)
    np.testing.assert_array_equal(columns["y"].numpy(), np.array(expected) / 2)  # rows kept whole
    assert data.column_rows(columns) == data.count_records(files) == 15
    assert data.count_records([str(tmp_path / "none-*.gz")]) == 0


def test_the_memory_budget_is_checked_while_reading(tmp_path, monkeypatch):
    files = _shards(tmp_path)
    row_bytes = 8 + 4
    monkeypatch.setattr(data, "IN_MEMORY_BYTES", 15 * row_bytes)
    assert data.column_rows(data.load_columns(files, SPEC)) == 15
    monkeypatch.setattr(data, "IN_MEMORY_BYTES", 14 * row_bytes)
    assert data.load_columns(files, SPEC) is None  # found too many on the way: streams instead
    assert data.load_columns(files, SPEC, rows=15) is None  # known too many: not read at all


def test_the_generated_run_fn_reads_each_split_once(chain, monkeypatch):
    splits = [[examples_pattern(str(chain.transformed), name)] for name in ("train", "eval")]
    expected = [data.count_records(files) for files in splits]
    passes = []
    record_batches = data._record_batches
    monkeypatch.setattr(data, "_record_batches", lambda files: passes.append(files) or record_batches(files))

    held, counts = executor._read_splits(str(chain.transform_graph), splits, hold=True)
    assert passes == splits and counts == expected and min(expected) > 0
    assert [data.column_rows(c) for c in held] == expected
    # A user's run_fn reads the files itself: only counted here.
    passes.clear()
    held, counts = executor._read_splits(str(chain.transform_graph), splits, hold=False)
    assert passes == splits and counts == expected and held == [None, None]


def test_steps_per_call_train_the_same_model(chain, tmp_path, monkeypatch):
    """Several steps per call of the train function (what long fits get) change no update."""
    per_call = []
    build = executor.build_model

    def build_model(*args):
        model = build(*args)
        per_call.append(int(model._steps_per_execution.numpy()))
        return model

    monkeypatch.setattr(executor, "build_model", build_model)
    monkeypatch.setattr(executor, "_STEPS_PER_CALL_FROM", 0)
    result = executor.run(
        chain.config,
        executor.Inputs(str(chain.transformed), str(chain.transform_graph)),
        executor.Outputs(str(tmp_path / "model"), str(tmp_path / "model_run")),
    )
    assert per_call == [executor._STEPS_PER_CALL] and executor._STEPS_PER_CALL > 1
    assert result.final_metrics == chain.train_result.final_metrics
    assert result.train_examples_seen == chain.train_result.train_examples_seen
    weights = [
        tf.train.load_checkpoint(str(root / "model" / "Format-Serving" / "variables" / "variables"))
        for root in (tmp_path, chain.root)
    ]
    names = [n for n, dtype in weights[0].get_variable_to_dtype_map().items() if dtype.is_floating]
    assert len(names) > 10
    for name in names:
        np.testing.assert_array_equal(weights[0].get_tensor(name), weights[1].get_tensor(name), err_msg=name)
