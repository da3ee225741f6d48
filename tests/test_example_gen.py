"""ExampleGen on real taxi rows: layout, types, label, deterministic splits, errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.example_gen import executor as example_gen
from tests.conftest import read_taxi, taxi_config


def read_examples(root, split) -> list[tf.train.Example]:
    files = tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz"))
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def value(example: tf.train.Example, name: str):
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return None if kind is None else list(getattr(feature, kind).value)[0]


def digest(root) -> str:
    h = hashlib.sha256()
    for split in ("train", "eval"):
        for path in sorted(tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz"))):
            for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
                h.update(record.numpy())
    return h.hexdigest()


def test_layout_counts_and_types(chain):
    summary = json.loads((chain.examples / "example_gen_summary.json").read_text())
    counts = summary["split_counts"]
    assert sum(counts.values()) == 3000
    assert 0.75 < counts["train"] / 3000 < 0.85  # configured 0.8
    assert (chain.examples / "Split-train" / "data_tfrecord-00000-of-00001.gz").exists()
    types = summary["column_types"]
    assert types["fare"] == "FLOAT" and types["trip_start_hour"] == "INT" and types["company"] == "BYTES"
    # '0.0' and '0' in the same column: FLOAT, as TFX's CSV type inference decides.
    assert types["trip_miles"] == "FLOAT"
    assert len(read_examples(chain.examples, "train")) == counts["train"]


def test_label_matches_definition_and_missing_values_are_absent(chain):
    rows = read_taxi(3000)
    fare, tips = rows.fare.astype(float), rows.tips.astype(float)
    expected_positives = int(((fare > 0) & (tips > 0.2 * fare)).sum())  # from the CSV text, float64
    examples = read_examples(chain.examples, "train") + read_examples(chain.examples, "eval")
    assert sum(value(ex, "big_tipper") for ex in examples) == expected_positives
    summary = json.loads((chain.examples / "example_gen_summary.json").read_text())
    assert summary["label_positive"] == expected_positives
    examples = read_examples(chain.examples, "eval")
    # company is empty on about a third of the rows: those examples have no 'company' feature.
    missing = sum(1 for ex in examples if "company" not in ex.features.feature)
    assert 0.2 < missing / len(examples) < 0.5


def test_zero_fare_policy(tmp_path):
    rows = read_taxi(400)
    rows.loc[:7, "fare"] = "0"
    rows.loc[8:9, "fare"] = "-5"  # negative: as undefined as zero
    rows.loc[:4, "tips"] = "1.5"  # a tip on a zero fare: ratio undefined, still not a big tipper
    rows.loc[10:11, "fare"] = ""
    undefined = int(((rows.fare == "") | (rows.fare.replace("", "nan").astype(float) <= 0)).sum())
    assert undefined >= 12  # the sample has zero-fare trips of its own too
    csv = tmp_path / "zero.csv"
    rows.to_csv(csv, index=False)
    negative = example_gen.run(taxi_config(tmp_path), str(tmp_path / "neg"), source=str(csv))
    assert negative.zero_denominator_rows == undefined and negative.dropped_rows == 0
    assert sum(negative.split_counts.values()) == 400
    zero_fare = [ex for s in ("train", "eval") for ex in read_examples(tmp_path / "neg", s)
                 if value(ex, "fare") is None or value(ex, "fare") <= 0]
    assert len(zero_fare) == undefined and all(value(ex, "big_tipper") == 0 for ex in zero_fare)

    drop = example_gen.run(taxi_config(tmp_path, label={"zero_denominator": "drop"}), str(tmp_path / "drop"),
                           source=str(csv))
    assert drop.dropped_rows == undefined and sum(drop.split_counts.values()) == 400 - undefined


def test_same_input_same_output(tmp_path, small_csv):
    config = taxi_config(tmp_path)
    example_gen.run(config, str(tmp_path / "a"), source=str(small_csv))
    example_gen.run(config, str(tmp_path / "b"), source=str(small_csv))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_hash_key_split_keeps_groups_together(tmp_path, small_csv):
    config = taxi_config(tmp_path, split={"hash_key": ["company"]})
    example_gen.run(config, str(tmp_path / "ex"), source=str(small_csv))
    companies = {s: {value(ex, "company") for ex in read_examples(tmp_path / "ex", s)} for s in ("train", "eval")}
    assert not companies["train"] & companies["eval"]


def test_parquet_gives_the_same_examples_as_csv(tmp_path):
    rows = read_taxi(500)
    csv = tmp_path / "rows.csv"
    rows.to_csv(csv, index=False)
    typed = pd.read_csv(csv).convert_dtypes()  # nullable Int64 / Float64 / string, as a warehouse writes
    typed.to_parquet(tmp_path / "rows.parquet", index=False)
    config = taxi_config(tmp_path, data={"format": "auto"})
    from_csv = example_gen.run(config, str(tmp_path / "csv"), source=str(csv))
    from_pq = example_gen.run(config, str(tmp_path / "pq"), source=str(tmp_path / "rows.parquet"))
    assert from_csv.split_counts == from_pq.split_counts
    a = read_examples(tmp_path / "csv", "eval")
    b = read_examples(tmp_path / "pq", "eval")
    for ex_a, ex_b in zip(a, b):
        for name in ("fare", "tips", "company", "trip_start_hour", "big_tipper"):
            va, vb = value(ex_a, name), value(ex_b, name)
            assert (va is None and vb is None) or np.isclose(va, vb) if not isinstance(va, bytes) else va == vb


def test_glob_reads_every_file(tmp_path):
    rows = read_taxi(600)
    (tmp_path / "in").mkdir()
    rows[:300].to_csv(tmp_path / "in" / "part-0.csv", index=False)
    rows[300:].to_csv(tmp_path / "in" / "part-1.csv", index=False)
    result = example_gen.run(taxi_config(tmp_path), str(tmp_path / "ex"), source=str(tmp_path / "in" / "*.csv"))
    assert len(result.files) == 2 and sum(result.split_counts.values()) == 600


def test_errors_name_the_problem(tmp_path):
    config = taxi_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="matched no files"):
        example_gen.run(config, str(tmp_path / "o1"), source=str(tmp_path / "nothing-*.csv"))
    rows = read_taxi(50)
    rows.drop(columns=["tips"]).to_csv(tmp_path / "no_tips.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match="label.numerator column 'tips' is missing"):
        example_gen.run(config, str(tmp_path / "o2"), source=str(tmp_path / "no_tips.csv"))
    rows.loc[7, "fare"] = "free"
    rows.to_csv(tmp_path / "text_fare.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match=r"label.denominator column 'fare' holds non-numeric value 'free' \(data row 8\)"):
        example_gen.run(config, str(tmp_path / "o3"), source=str(tmp_path / "text_fare.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(example_gen.InputDataError, match="empty.csv: empty file"):
        example_gen.run(config, str(tmp_path / "o5"), source=str(tmp_path / "empty.csv"))
    rows.head(0).to_csv(tmp_path / "header_only.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match="header_only.csv: no data rows"):
        example_gen.run(config, str(tmp_path / "o6"), source=str(tmp_path / "header_only.csv"))
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,z\n1,2\n")
    with pytest.raises(example_gen.InputDataError, match="differ from the first file"):
        example_gen.run(config, str(tmp_path / "o4"), source=str(tmp_path / "[ab].csv"))
