"""ExampleGen as a Beam pipeline: every input format and runner gives the same examples, rows
are read in batches without losing a type, a row number or a file's place, and the vectorised
encoding equals tf.train.Example built value by value."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from components.example_gen import executor as example_gen
from components.example_gen import shards
from components.example_gen.encode import encode_examples
from components.example_gen.values import BYTES, FLOAT, INT, canonical, convert, to_example
from tests.conftest import read_taxi, taxi_config
from tests.test_example_gen import text_label_config

MULTI_PROCESSING = ("--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2")


def gen(config, out, source, beam_args=(), extra="") -> example_gen.Result:
    inputs = example_gen.Inputs(data_source=str(source), beam_args=tuple(beam_args), extra_data=str(extra))
    return example_gen.run(config, inputs, example_gen.Outputs(examples=str(out)))


def examples(root, split) -> list[bytes]:
    """The split's examples, parsed and serialized deterministically, sorted: equal sets of
    examples compare equal whatever the shards and their order."""
    files = sorted(tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz")))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True) for r in records)


def shard_files(root, split) -> dict[str, list[bytes]]:
    """Each file of the split, by name: its records in file order."""
    files = sorted(tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz")))
    read = lambda f: [r.numpy() for r in tf.data.TFRecordDataset(f, compression_type="GZIP")]  # noqa: E731
    return {f.rsplit("/", 1)[1]: read(f) for f in files}


def test_shards_hold_equal_ranges_of_rows_in_file_order(tmp_path, monkeypatch):
    """Data from several files (CSV, gzip CSV) and extra data (Parquet, row groups of 100):
    with 700 rows a shard, 3000 rows make 5 shards per split, each holding its split's rows of
    one fifth of the input; read in name order they are the one file of a 1-shard run, record
    for record. A run into the same directory leaves no shard of the run before."""
    rows = read_taxi(3000)
    (tmp_path / "parts").mkdir()
    rows[:1100].to_csv(tmp_path / "parts" / "a.csv", index=False)
    (tmp_path / "parts" / "b.csv.gz").write_bytes(gzip.compress(rows[1100:2400].to_csv(index=False).encode()))
    labelled = rows[2400:].assign(big_tipper=[str(i % 2) for i in range(600)])
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    pq.write_table(pacsv.read_csv(tmp_path / "labelled.csv"), tmp_path / "labelled.parquet", row_group_size=100)
    config = taxi_config(tmp_path, data={"format": "auto"})
    args = (config, tmp_path / "out", tmp_path / "parts")
    one = gen(*args, extra=tmp_path / "labelled.parquet")
    before = {split: shard_files(tmp_path / "out", split) for split in ("train", "eval")}
    monkeypatch.setattr(shards, "ROWS_PER_SHARD", 700)
    many = gen(*args, extra=tmp_path / "labelled.parquet")
    assert many.to_dict() == one.to_dict() and many.rows_read == 3000 and many.extra_rows_read == 600
    assert many.outputs["eval"] == str(tmp_path / "out" / "Split-eval" / "*.gz")
    for split, ratio in (("train", 0.8), ("eval", 0.2)):
        [(name, records)] = before[split].items()
        assert name == "data_tfrecord-00000-of-00001.gz"
        after = shard_files(tmp_path / "out", split)
        assert list(after) == [f"data_tfrecord-{i:05d}-of-00005.gz" for i in range(5)]
        assert [r for shard in after.values() for r in shard] == records
        assert all(abs(len(shard) - 600 * ratio) < 60 for shard in after.values()), [len(s) for s in after.values()]


def test_parquet_gzip_csv_and_a_glob_of_parts_equal_plain_csv(tmp_path):
    rows = read_taxi(2000)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "rows.csv.gz").write_bytes(gzip.compress((tmp_path / "rows.csv").read_bytes()))
    # Typed as a warehouse would (int64, float64, strings, nulls), in row groups of 300.
    pq.write_table(pacsv.read_csv(tmp_path / "rows.csv"), tmp_path / "rows.parquet", row_group_size=300)
    (tmp_path / "parts").mkdir()
    rows[:700].to_csv(tmp_path / "parts" / "a.csv", index=False)
    (tmp_path / "parts" / "b.csv.gz").write_bytes(gzip.compress(rows[700:].to_csv(index=False).encode()))
    config = taxi_config(tmp_path, data={"format": "auto"})
    plain = gen(config, tmp_path / "plain", tmp_path / "rows.csv")
    for name in ("rows.csv.gz", "rows.parquet", "parts"):
        other = gen(config, tmp_path / name.replace(".", "_"), tmp_path / name)
        assert other.split_counts == plain.split_counts and other.column_types == plain.column_types, name
        assert other.label == plain.label and other.rows_read == 2000, name
        for split in ("train", "eval"):
            assert examples(tmp_path / name.replace(".", "_"), split) == examples(tmp_path / "plain", split), name


@pytest.mark.slow  # about 20 s: each worker process imports TensorFlow
def test_two_worker_processes_write_the_same_files(tmp_path, monkeypatch):
    """The same shards, record for record, whichever worker read which batch."""
    monkeypatch.setattr(shards, "ROWS_PER_SHARD", 500)  # 1600 rows: 4 shards
    rows = read_taxi(1500)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    config = taxi_config(tmp_path, data={"drop_duplicates": True})
    pd.concat([rows, rows[:100]]).to_csv(tmp_path / "dups.csv", index=False)
    one = gen(config, tmp_path / "one", tmp_path / "dups.csv")
    two = gen(config, tmp_path / "two", tmp_path / "dups.csv", beam_args=MULTI_PROCESSING)
    assert one.duplicates_dropped == two.duplicates_dropped == 100
    assert two.to_dict() | {"outputs": {}} == one.to_dict() | {"outputs": {}}
    for split in ("train", "eval"):
        assert len(shard_files(tmp_path / "one", split)) == 4
        assert shard_files(tmp_path / "two", split) == shard_files(tmp_path / "one", split)


def test_types_and_row_numbers_span_batches_and_files(tmp_path):
    """A batch holds tens of thousands of rows: the one float among 120,000 integers still
    makes the column FLOAT, and a bad value is named by its file and its row in that file."""
    n = 120_000
    frame = pd.DataFrame({"age": [str(i % 90) for i in range(n)], "released": ["Yes", "No", "No"] * (n // 3)})
    frame.loc[n - 1, "age"] = "41.5"
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = gen(text_label_config(tmp_path), tmp_path / "ex", tmp_path / "data.csv")
    assert result.column_types["age"] == FLOAT and result.rows_read == n

    rows = read_taxi(300)
    (tmp_path / "in").mkdir()
    rows.to_csv(tmp_path / "in" / "part-0.csv", index=False)
    rows.loc[2, "fare"] = "free"
    rows.to_csv(tmp_path / "in" / "part-1.csv", index=False)
    with pytest.raises(
        example_gen.InputDataError,
        match=r"part-1.csv: label.ratio.denominator column 'fare' holds non-numeric value 'free' \(data row 3\)",
    ):
        gen(taxi_config(tmp_path), tmp_path / "ex2", tmp_path / "in" / "*.csv")


def test_malformed_csv_rows_read_as_pandas_reads_them(tmp_path):
    rows = "".join(f"{i},{['Yes', 'No'][i % 2]}\n" for i in range(40))
    (tmp_path / "data.csv").write_text("age,released\n" + rows + "5\n")
    result = gen(text_label_config(tmp_path), tmp_path / "ex", tmp_path / "data.csv")
    assert result.rows_read == 41 and result.rows_without_label == 1  # the short row: released missing
    (tmp_path / "data.csv").write_text("age,released\n3,Yes\n4,No,extra\n")
    with pytest.raises(example_gen.InputDataError, match=r"not a readable CSV file: .*Expected 2 fields in line 3"):
        gen(text_label_config(tmp_path), tmp_path / "ex2", tmp_path / "data.csv")


def test_errors_before_anything_is_written_name_file_and_column(tmp_path):
    rows = read_taxi(100)
    rows.to_csv(tmp_path / "a.csv", index=False)
    rows.drop(columns=["company"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match=r"b.csv: columns .* differ from the first file's"):
        gen(taxi_config(tmp_path), tmp_path / "o1", tmp_path / "[ab].csv")
    (tmp_path / "c.csv").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes())[:2000])
    with pytest.raises(example_gen.InputDataError, match=r"c.csv: not a CSV file \(binary content\?\)"):
        gen(taxi_config(tmp_path), tmp_path / "o2", tmp_path / "[ac].csv")
    pd.DataFrame({"age": ["99999999999999999999", "1"] * 10, "released": ["Yes", "No"] * 10}).to_csv(
        tmp_path / "data.csv", index=False
    )
    with pytest.raises(example_gen.InputDataError, match=r"column 'age' .* does not fit a 64-bit integer"):
        gen(text_label_config(tmp_path), tmp_path / "o3", tmp_path / "data.csv")


# ------------------------------------------------------------------------------------ batches


TEXTS = ["5", "+5", "007", "-0", "", " 1.5", "+.5", "1e-7", "3.4e38", "inf", "0.1", "-2.5", "123456789"]


def test_column_conversion_equals_the_per_value_definition():
    ints = ["5", "+5", "007", "-0", "", "-9223372036854775808"]
    for kind, texts in ((INT, ints), (FLOAT, TEXTS), (BYTES, [*TEXTS, "é"])):
        column = convert(pa.array(texts, pa.string()), kind)
        assert column.text.to_pylist() == [canonical(t, kind) for t in texts], kind
    floats = pa.array([0.1, None, float("nan"), 1e-30, 2.0**100], pa.float64())
    column = convert(floats, FLOAT)
    assert column.text.to_pylist() == [canonical(v, FLOAT) for v in [0.1, None, float("nan"), 1e-30, 2.0**100]]
    assert column.values.to_pylist()[1:3] == [None, None]  # null and NaN: absent


def test_batch_encoding_equals_one_example_at_a_time():
    rng = np.random.default_rng(0)
    n = 500
    ints = [None if rng.random() < 0.2 else int(v) for v in rng.choice([0, 1, -1, 127, 128, 2**40, -(2**63)], n)]
    floats = [None if rng.random() < 0.2 else float(v) for v in rng.normal(size=n) * 10.0 ** rng.integers(-5, 30, n)]
    texts = [None if rng.random() < 0.2 else "é" * int(k) for k in rng.integers(1, 300, n)]
    key = "k" * 130  # a key longer than one varint byte
    columns = [
        ("i", INT, pa.array(ints, pa.int64())),
        ("f", FLOAT, pa.array(floats, pa.float64()).cast(pa.float32())),
        (key, BYTES, pa.array([t.encode() if t else None for t in texts], pa.binary())),
    ]
    types = {"i": INT, "f": FLOAT, key: BYTES}
    batch = encode_examples(columns).to_pylist()
    for k in range(n):
        row = {"i": ints[k], "f": None if floats[k] is None else np.float32(floats[k]), key: texts[k]}
        assert tf.train.Example.FromString(batch[k]) == tf.train.Example.FromString(to_example(row, types))
