"""ExampleGen on real rows: layout, types, labels for every task, deterministic splits, and
the input failures a new user meets (one class, gzip, binary files, empty labels, duplicates)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.example_gen import executor as example_gen
from tests.conftest import EXAMPLES, example_config, read_taxi, taxi_config


def gen(config, out, source=None) -> example_gen.Result:
    return example_gen.run(
        config, example_gen.Inputs(data_source=str(source or "")), example_gen.Outputs(examples=str(out))
    )


def read_examples(root, split) -> list[tf.train.Example]:
    files = tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz"))
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


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
    assert sum(c["positive"] for c in summary["label"]["class_counts"].values()) == expected_positives
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
    negative = gen(taxi_config(tmp_path), tmp_path / "neg", csv)
    assert negative.undefined_ratio_rows == undefined and negative.rows_without_label == 0
    assert sum(negative.split_counts.values()) == 400
    zero_fare = [
        ex
        for s in ("train", "eval")
        for ex in read_examples(tmp_path / "neg", s)
        if value(ex, "fare") is None or value(ex, "fare") <= 0
    ]
    assert len(zero_fare) == undefined and all(value(ex, "big_tipper") == 0 for ex in zero_fare)

    label = taxi_config(tmp_path).label.model_dump(exclude_none=True)
    label["ratio"]["undefined"] = "drop"
    drop = gen(taxi_config(tmp_path, label=label), tmp_path / "drop", csv)
    assert drop.undefined_ratio_rows == undefined and sum(drop.split_counts.values()) == 400 - undefined
    assert any("left out (label.ratio.undefined)" in w for w in drop.warnings)


def test_same_input_same_output(tmp_path, small_csv):
    config = taxi_config(tmp_path)
    gen(config, tmp_path / "a", small_csv)
    gen(config, tmp_path / "b", small_csv)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_hash_key_split_keeps_groups_together(tmp_path, small_csv):
    config = taxi_config(tmp_path, split={"hash_key": ["company"]})
    gen(config, tmp_path / "ex", small_csv)
    companies = {s: {value(ex, "company") for ex in read_examples(tmp_path / "ex", s)} for s in ("train", "eval")}
    assert not companies["train"] & companies["eval"]


def test_parquet_gives_the_same_examples_as_csv(tmp_path):
    rows = read_taxi(500)
    csv = tmp_path / "rows.csv"
    rows.to_csv(csv, index=False)
    typed = pd.read_csv(csv).convert_dtypes()  # nullable Int64 / Float64 / string, as a warehouse writes
    typed.to_parquet(tmp_path / "rows.parquet", index=False)
    config = taxi_config(tmp_path, data={"format": "auto"})
    from_csv = gen(config, tmp_path / "csv", csv)
    from_pq = gen(config, tmp_path / "pq", tmp_path / "rows.parquet")
    assert from_csv.split_counts == from_pq.split_counts
    a = read_examples(tmp_path / "csv", "eval")
    b = read_examples(tmp_path / "pq", "eval")
    assert len(a) == len(b)
    for ex_a, ex_b in zip(a, b, strict=True):
        for name in ("fare", "tips", "company", "trip_start_hour", "big_tipper"):
            va, vb = value(ex_a, name), value(ex_b, name)
            assert (va is None and vb is None) or np.isclose(va, vb) if not isinstance(va, bytes) else va == vb


def test_glob_reads_every_file(tmp_path):
    rows = read_taxi(600)
    (tmp_path / "in").mkdir()
    rows[:300].to_csv(tmp_path / "in" / "part-0.csv", index=False)
    rows[300:].to_csv(tmp_path / "in" / "part-1.csv", index=False)
    result = gen(taxi_config(tmp_path), tmp_path / "ex", tmp_path / "in" / "*.csv")
    assert len(result.files) == 2 and sum(result.split_counts.values()) == 600


def test_errors_name_the_problem(tmp_path):
    config = taxi_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="matched no files"):
        gen(config, tmp_path / "o1", tmp_path / "nothing-*.csv")
    rows = read_taxi(50)
    rows.drop(columns=["tips"]).to_csv(tmp_path / "no_tips.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match="label.ratio.numerator column 'tips' is missing"):
        gen(config, tmp_path / "o2", tmp_path / "no_tips.csv")
    rows.loc[7, "fare"] = "free"
    rows.to_csv(tmp_path / "text_fare.csv", index=False)
    with pytest.raises(
        example_gen.InputDataError,
        match=r"label.ratio.denominator column 'fare' holds non-numeric value 'free' \(data row 8\)",
    ):
        gen(config, tmp_path / "o3", tmp_path / "text_fare.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(example_gen.InputDataError, match="empty.csv: empty file"):
        gen(config, tmp_path / "o5", tmp_path / "empty.csv")
    rows.head(0).to_csv(tmp_path / "header_only.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match=r"header_only.csv: no data rows \(a header only\)"):
        gen(config, tmp_path / "o6", tmp_path / "header_only.csv")
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,z\n1,2\n")
    with pytest.raises(example_gen.InputDataError, match="differ from the first file"):
        gen(config, tmp_path / "o4", tmp_path / "[ab].csv")


def test_one_class_in_train_fails_naming_the_label_and_the_counts(tmp_path):
    rows = read_taxi(600)
    rows["tips"] = "0"  # nobody tips: every label is 0
    rows.to_csv(tmp_path / "no_tips.csv", index=False)
    with pytest.raises(example_gen.InputDataError) as err:
        gen(taxi_config(tmp_path), tmp_path / "ex", tmp_path / "no_tips.csv")
    message = str(err.value)
    assert "label 'big_tipper' (from label.ratio) has only one class in the train split" in message
    assert "'positive': 0" in message and "'negative': " in message


def test_positive_values_that_never_occur_are_named(tmp_path):
    frame = pd.DataFrame({"released": ["Yes", "No"] * 50, "age": range(100)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = text_label_config(tmp_path, positive=["yes"])  # the data says "Yes"
    with pytest.raises(
        example_gen.InputDataError,
        match=r"label.positive is \['yes'\], the column's most common "
        r"values are 'Yes' \(50\), 'No' \(50\)",
    ):
        gen(config, tmp_path / "ex")


def text_label_config(tmp_path, **label):
    from contracts.config import parse_config

    return parse_config(
        {
            "pipeline_name": "arrests",
            "model_name": "released",
            "data": {"source": str(tmp_path / "data.csv")},
            "label": {"name": "released", "task": "binary", "positive": ["Yes"]} | label,
            "features": [{"name": "age", "transform": "zscore"}],
            "push": {"registry": str(tmp_path / "reg")},
        }
    )


def test_text_label_is_written_as_0_or_1(tmp_path):
    frame = pd.DataFrame({"released": ["Yes", "No", "Yes", ""] * 50, "age": range(200)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    result = gen(text_label_config(tmp_path), tmp_path / "ex")
    examples = read_examples(tmp_path / "ex", "train") + read_examples(tmp_path / "ex", "eval")
    assert len(examples) == 150 and result.rows_without_label == 50
    by_age = {value(ex, "age"): value(ex, "released") for ex in examples}
    assert all(by_age[age] == (1 if age % 4 in (0, 2) else 0) for age in by_age)
    assert result.column_types["released"] == "INT"
    assert any("50 of 200 rows have no 'released' value" in w for w in result.warnings)
    with pytest.raises(example_gen.InputDataError, match="label.missing: error"):
        gen(text_label_config(tmp_path, missing="error"), tmp_path / "strict")


def test_label_empty_in_every_row_is_named(tmp_path):
    frame = pd.DataFrame({"released": [""] * 40, "age": range(40)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(
        example_gen.InputDataError, match="label column 'released' is empty in every one of the 40 rows"
    ):
        gen(text_label_config(tmp_path), tmp_path / "ex")
    rows = read_taxi(100)
    rows["fare"] = ""
    rows.to_csv(tmp_path / "no_fare.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match="label 'big_tipper' is undefined in every row: 'fare'"):
        gen(taxi_config(tmp_path), tmp_path / "ex2", tmp_path / "no_fare.csv")


def test_label_column_missing_from_the_data_is_named(tmp_path):
    pd.DataFrame({"age": range(20)}).to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(
        example_gen.InputDataError,
        match=r"label column 'released' \(label.name\) is not in the "
        r"data; columns are \['age'\]",
    ):
        gen(text_label_config(tmp_path), tmp_path / "ex")


def test_multiclass_classes_come_from_train_in_sorted_order(tmp_path):
    config = example_config("penguins", tmp_path)
    result = gen(config, tmp_path / "ex")
    assert result.label["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    counts = result.label["class_counts"]
    assert sum(sum(c.values()) for c in counts.values()) == 344
    assert {k: counts["train"][k] + counts["eval"][k] for k in counts["train"]} == {
        "Adelie": 152,
        "Chinstrap": 68,
        "Gentoo": 124,
    }  # the README's counts
    raw = pd.read_csv(EXAMPLES / "penguins" / "data" / "penguins.csv", dtype=str, keep_default_na=False)
    ids = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}
    expected = sorted(ids[s] for s in raw.species)
    written = sorted(value(ex, "species") for s in ("train", "eval") for ex in read_examples(tmp_path / "ex", s))
    assert written == expected
    # NA (data.missing_values) is a missing value: those features are absent.
    assert (
        sum("sex" not in ex.features.feature for s in ("train", "eval") for ex in read_examples(tmp_path / "ex", s))
        == 11
    )


def test_multiclass_rows_of_a_class_train_lacks_are_left_out(tmp_path):
    frame = pd.DataFrame({"kind": ["a", "b"] * 100, "x": range(200)})
    frame.loc[frame.index[-1], "kind"] = "zebra"  # one row of a class that lands in one split only
    frame.to_csv(tmp_path / "data.csv", index=False)
    from contracts.config import parse_config

    config = parse_config(
        {
            "pipeline_name": "p",
            "model_name": "m",
            "data": {"source": str(tmp_path / "data.csv")},
            "label": {"name": "kind", "task": "multiclass"},
            "features": [{"name": "x", "transform": "zscore"}],
            "push": {"registry": "r"},
        }
    )
    result = gen(config, tmp_path / "ex")
    if "zebra" in result.label["classes"]:  # it hashed into train: a class of its own
        assert result.unseen_class_rows == 0
    else:
        assert result.unseen_class_rows == 1 and "{'zebra': 1}" in " ".join(result.warnings)
        assert sum(result.split_counts.values()) == 199


def test_regression_label_from_gzipped_csv(tmp_path):
    config = example_config("auto_mpg", tmp_path)
    result = gen(config, tmp_path / "ex")
    assert result.rows_read == 406 and result.rows_without_label == 8 and sum(result.split_counts.values()) == 398
    assert result.column_types["Miles_per_Gallon"] == "FLOAT"
    values = [value(ex, "Miles_per_Gallon") for ex in read_examples(tmp_path / "ex", "train")]
    assert len(values) == result.label["values"]["train"]["count"]
    assert np.mean(values) == pytest.approx(result.label["values"]["train"]["mean"], rel=1e-6)
    # split.hash_key [Name, Year]: one car model-year never straddles the splits.
    names = {
        s: {(value(ex, "Name"), value(ex, "Year")) for ex in read_examples(tmp_path / "ex", s)}
        for s in ("train", "eval")
    }
    assert not names["train"] & names["eval"]


def test_gzip_without_the_extension_and_binary_files(tmp_path):
    import gzip

    read_taxi(300).to_csv(tmp_path / "plain.csv", index=False)
    (tmp_path / "packed.dat").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    config = taxi_config(tmp_path, data={"format": "csv"})
    a, b = gen(config, tmp_path / "a", tmp_path / "plain.csv"), gen(config, tmp_path / "b", tmp_path / "packed.dat")
    assert a.split_counts == b.split_counts and digest(tmp_path / "a") == digest(tmp_path / "b")
    (tmp_path / "model.csv").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(example_gen.InputDataError, match=r"model.csv: not a CSV file \(binary content\?\)"):
        gen(config, tmp_path / "c", tmp_path / "model.csv")
    (tmp_path / "truncated.csv.gz").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes())[:500])
    with pytest.raises(example_gen.InputDataError, match="not a CSV file"):
        gen(config, tmp_path / "d", tmp_path / "truncated.csv.gz")


def test_duplicate_rows_are_counted_and_can_be_dropped(tmp_path):
    rows = read_taxi(500)
    tripled = pd.concat([rows, rows, rows], ignore_index=True)
    tripled.to_csv(tmp_path / "tripled.csv", index=False)
    kept = gen(taxi_config(tmp_path), tmp_path / "kept", tmp_path / "tripled.csv")
    unique = len(rows.drop_duplicates())
    assert kept.duplicate_rows == 1500 - unique and sum(kept.split_counts.values()) == 1500
    assert any("exact duplicates" in w and "data.drop_duplicates" in w for w in kept.warnings)
    dropped = gen(taxi_config(tmp_path, data={"drop_duplicates": True}), tmp_path / "dropped", tmp_path / "tripled.csv")
    assert dropped.duplicates_dropped == 1500 - unique and sum(dropped.split_counts.values()) == unique


def test_positive_values_must_fit_the_column(tmp_path):
    frame = pd.DataFrame({"released": [1, 0] * 30, "age": range(60)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(example_gen.InputDataError, match="label.positive: 'Yes' cannot be a value of the INT column"):
        gen(text_label_config(tmp_path), tmp_path / "a")
    with pytest.raises(example_gen.InputDataError, match="label.positive: 1.5 cannot be a value of the INT column"):
        gen(text_label_config(tmp_path, positive=[1.5]), tmp_path / "b")
    result = gen(text_label_config(tmp_path, positive=[True]), tmp_path / "c")  # YAML true on a 0/1 column
    assert sum(result.label["class_counts"]["train"].values()) + sum(result.label["class_counts"]["eval"].values())
    assert result.label["class_counts"]["train"]["positive"] > 0
    pd.DataFrame({"released": ["true", "false"] * 30, "age": range(60)}).to_csv(tmp_path / "data.csv", index=False)
    result = gen(text_label_config(tmp_path, positive=[True]), tmp_path / "d")  # ... and on a text column
    assert result.label["class_counts"]["train"]["positive"] > 0


def test_numeric_classes_in_numeric_order_and_the_gate_class_must_exist(tmp_path):
    from contracts.config import parse_config

    frame = pd.DataFrame({"grade": [i % 12 for i in range(600)], "x": range(600)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    base = {
        "pipeline_name": "p",
        "model_name": "m",
        "data": {"source": str(tmp_path / "data.csv")},
        "label": {"name": "grade", "task": "multiclass"},
        "features": [{"name": "x", "transform": "zscore"}],
        "push": {"registry": "r"},
    }
    result = gen(parse_config(base), tmp_path / "ex")
    assert result.label["classes"] == [str(i) for i in range(12)]  # 10 and 11 after 9, not after 1
    gate = {"feature": "x", "metric": "recall", "class_name": "twelve", "max_gap": 0.1}
    with pytest.raises(
        example_gen.InputDataError,
        match=r"evaluation.fairness_gate.class_name 'twelve' is not a "
        r"class of label 'grade'; the classes are \['0', '1'",
    ):
        gen(parse_config(base | {"evaluation": {"fairness_gate": gate}}), tmp_path / "ex2")


def test_parquet_float32_and_nullable_int64_hash_like_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    big = 2**53 + 1  # not representable as float64: it must not pass through one
    table = pa.table(
        {
            "id": pa.array([big + i if i % 7 else None for i in range(300)], pa.int64()),
            "share": pa.array([i / 10 for i in range(300)], pa.float32()),
            "released": pa.array(["Yes", "No", "No"] * 100),
        }
    )
    pq.write_table(table, tmp_path / "data.parquet")
    import pyarrow.csv

    pyarrow.csv.write_csv(table, tmp_path / "data.csv")  # exact ints, float32 as its shortest text
    from contracts.config import parse_config

    def config(source):
        return parse_config(
            {
                "pipeline_name": "p",
                "model_name": "m",
                "data": {"source": str(source)},
                "label": {"name": "released", "task": "binary", "positive": ["Yes"]},
                "features": [{"name": "share", "transform": "zscore"}],
                "push": {"registry": "r"},
            }
        )

    a = gen(config(tmp_path / "data.csv"), tmp_path / "csv")
    b = gen(config(tmp_path / "data.parquet"), tmp_path / "pq")
    assert a.split_counts == b.split_counts and digest(tmp_path / "csv") == digest(tmp_path / "pq")
    ids = {value(ex, "id") for s in ("train", "eval") for ex in read_examples(tmp_path / "pq", s)} - {None}
    assert big + 1 in ids
