"""StatisticsGen, SchemaGen and ExampleValidator on real taxi rows, clean and corrupted."""

from __future__ import annotations

import json

import pytest
import tensorflow_data_validation as tfdv

from components.example_gen import executor as example_gen
from components.example_validator import executor as validator
from components.schema_gen import executor as schema_gen
from components.statistics_gen import executor as statistics_gen
from tests.conftest import read_taxi, taxi_config

SPLITS = ["train", "eval"]


def test_statistics_per_split(chain):
    counts = json.loads((chain.examples / "example_gen_summary.json").read_text())["split_counts"]
    for split in SPLITS:
        stats = tfdv.load_stats_binary(str(chain.statistics / f"Split-{split}" / "FeatureStats.pb"))
        assert stats.datasets[0].num_examples == counts[split]
        fare = next(f for f in stats.datasets[0].features if f.path.step[0] == "fare")
        assert fare.num_stats.min >= 0 and fare.num_stats.mean > 0
    html = (chain.root / "stats.html").read_text()
    assert "facets-overview" in html and len(html) > 10_000  # the stats travel base64-encoded inside


def test_curated_schema_is_used_and_clean_data_passes(chain, tmp_path):
    schema = schema_gen.load_schema(str(chain.schema))
    company = next(f for f in schema.feature if f.name == "company")
    assert not company.HasField("domain")  # the curation, not TFDV's inference
    found = validator.run(str(chain.statistics), str(chain.schema), SPLITS, str(tmp_path / "anomalies"),
                          markdown_path=str(tmp_path / "report.md"), html_path=str(tmp_path / "report.html"))
    assert found == []
    assert (tmp_path / "anomalies" / "Split-eval" / "SchemaDiff.pb").exists()
    assert "No anomalies" in (tmp_path / "report.md").read_text()


def test_inferred_schema_when_no_curated_one(chain, tmp_path):
    config = taxi_config(tmp_path, validation={"schema_path": ""})
    schema = schema_gen.run(config, str(chain.statistics), str(tmp_path / "schema"))
    assert {f.name for f in schema.feature} >= set(config.feature_names)
    assert (tmp_path / "schema" / "schema.pbtxt").exists()


def test_schema_must_fit_the_config(chain, tmp_path):
    config = taxi_config(tmp_path, features=[{"name": "company", "transform": "zscore"}])
    with pytest.raises(schema_gen.SchemaError, match="'company' is BYTES but transform 'zscore' needs a number"):
        schema_gen.run(config, str(chain.statistics), str(tmp_path / "s1"))
    config = taxi_config(tmp_path, features=[{"name": "no_such_column", "transform": "zscore"}])
    with pytest.raises(schema_gen.SchemaError, match=r"no schema feature for configured feature\(s\) \['no_such_column'\]"):
        schema_gen.run(config, str(chain.statistics), str(tmp_path / "s2"))
    config = taxi_config(tmp_path, validation={"schema_path": str(tmp_path / "missing.pbtxt")})
    with pytest.raises(schema_gen.SchemaError, match="schema file not found"):
        schema_gen.run(config, str(chain.statistics), str(tmp_path / "s3"))


def validate_csv(tmp_path, frame, warn_only=None):
    config = taxi_config(tmp_path)
    frame.to_csv(tmp_path / "input.csv", index=False)
    example_gen.run(config, str(tmp_path / "examples"), source=str(tmp_path / "input.csv"))
    statistics_gen.run(str(tmp_path / "examples"), SPLITS, str(tmp_path / "statistics"))
    schema_gen.run(config, str(tmp_path / "statistics"), str(tmp_path / "schema"))
    return validator.run(str(tmp_path / "statistics"), str(tmp_path / "schema"), SPLITS,
                         str(tmp_path / "anomalies"), warn_only=warn_only,
                         markdown_path=str(tmp_path / "report.md"), html_path=str(tmp_path / "report.html"))


def test_text_in_a_numeric_column_fails_naming_the_feature(tmp_path):
    rows = read_taxi(1500)
    rows.loc[[3, 700, 1200], "trip_miles"] = "twelve"
    with pytest.raises(validator.DataValidationError) as err:
        validate_csv(tmp_path, rows)
    message = str(err.value)
    assert "feature 'trip_miles'" in message and "UNEXPECTED_DATA_TYPE" in message
    assert "Expected data of type: FLOAT but got STRING" in message
    assert {a.feature for a in err.value.anomalies} == {"trip_miles"}
    # The readable report is written before the run fails.
    report = json.loads((tmp_path / "anomalies" / "anomalies.json").read_text())
    assert report[0]["feature"] == "trip_miles" and report[0]["blocking"]
    assert "`trip_miles`" in (tmp_path / "report.md").read_text()
    assert "trip_miles" in (tmp_path / "report.html").read_text()


def test_missing_column_fails_naming_the_feature(tmp_path):
    rows = read_taxi(1500).drop(columns=["company"])
    with pytest.raises(validator.DataValidationError) as err:
        validate_csv(tmp_path, rows)
    assert "feature 'company': SCHEMA_MISSING_COLUMN: Column is completely missing" in str(err.value)


def test_warn_only_anomaly_types_do_not_block(tmp_path):
    rows = read_taxi(1500)
    rows.loc[5, "payment_type"] = "Bitcoin"  # outside the curated payment_type domain
    found = validate_csv(tmp_path, rows, warn_only=["ENUM_TYPE_UNEXPECTED_STRING_VALUES"])
    assert [(a.feature, a.blocking) for a in found] == [("payment_type", False)]
    with pytest.raises(validator.DataValidationError, match="payment_type"):
        (tmp_path / "strict").mkdir()
        validate_csv(tmp_path / "strict", rows)
