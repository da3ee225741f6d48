"""StatisticsGen, SchemaGen and ExampleValidator on real rows, clean and corrupted: blocking
anomalies, new columns (a warning unless strict), distinct values that jump against the
baseline model's training data."""

from __future__ import annotations

import json

import pytest
import tensorflow_data_validation as tfdv

from components.common.readers import SchemaError, load_schema
from components.example_gen import executor as example_gen
from components.example_validator import executor as validator
from components.schema_gen import executor as schema_gen
from components.statistics_gen import executor as statistics_gen
from contracts.registry import TRAINING_STATS
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


def validate(config, statistics, schema, out, registry=""):
    return validator.run(
        config,
        validator.Inputs(statistics=str(statistics), schema=str(schema), model_registry=str(registry)),
        validator.Outputs(
            anomalies=str(out / "anomalies"),
            anomalies_report=str(out / "report.md"),
            anomalies_view=str(out / "report.html"),
        ),
    )


def test_curated_schema_is_used_and_clean_data_passes(chain, tmp_path):
    schema = load_schema(str(chain.schema))
    company = next(f for f in schema.feature if f.name == "company")
    assert not company.HasField("domain")  # the curation, not TFDV's inference
    result = validate(chain.config, chain.statistics, chain.schema, tmp_path)
    assert result.anomalies == [] and result.baseline_version is None
    assert (tmp_path / "anomalies" / "Split-eval" / "SchemaDiff.pb").exists()
    assert "No anomalies" in (tmp_path / "report.md").read_text()


def test_inferred_schema_when_no_curated_one(chain, tmp_path):
    config = taxi_config(tmp_path, validation={"schema_path": ""})
    result = gen_schema(config, chain.statistics, tmp_path / "schema")
    assert result.origin == "inferred"
    schema = load_schema(str(tmp_path / "schema"))
    assert {f.name for f in schema.feature} >= set(config.feature_names)


def gen_schema(config, statistics, out):
    return schema_gen.run(config, schema_gen.Inputs(statistics=str(statistics)), schema_gen.Outputs(schema=str(out)))


def test_schema_must_fit_the_config(chain, tmp_path):
    config = taxi_config(tmp_path, features=[{"name": "company", "transform": "zscore"}])
    with pytest.raises(SchemaError, match="'company' is BYTES but transform 'zscore' needs a number"):
        gen_schema(config, chain.statistics, tmp_path / "s1")
    config = taxi_config(tmp_path, features=[{"name": "no_such_column", "transform": "zscore"}])
    with pytest.raises(SchemaError, match=r"no schema feature for configured feature\(s\) \['no_such_column'\]"):
        gen_schema(config, chain.statistics, tmp_path / "s2")
    config = taxi_config(tmp_path, validation={"schema_path": str(tmp_path / "missing.pbtxt")})
    with pytest.raises(SchemaError, match="schema file not found"):
        gen_schema(config, chain.statistics, tmp_path / "s3")


def statistics_of(config, tmp_path, frame):
    frame.to_csv(tmp_path / "input.csv", index=False)
    example_gen.run(
        config,
        example_gen.Inputs(data_source=str(tmp_path / "input.csv")),
        example_gen.Outputs(examples=str(tmp_path / "examples")),
    )
    statistics_gen.run(
        config,
        statistics_gen.Inputs(examples=str(tmp_path / "examples")),
        statistics_gen.Outputs(statistics=str(tmp_path / "statistics")),
    )
    gen_schema(config, tmp_path / "statistics", tmp_path / "schema")
    return tmp_path / "statistics"


def validate_csv(tmp_path, frame, registry="", **validation):
    config = taxi_config(tmp_path, validation=validation) if validation else taxi_config(tmp_path)
    statistics = statistics_of(config, tmp_path, frame)
    return validate(config, statistics, tmp_path / "schema", tmp_path, registry).anomalies


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


def test_a_column_the_schema_does_not_know_is_a_warning_unless_strict(tmp_path):
    rows = read_taxi(1500)
    rows["driver_rating"] = "5"
    found = validate_csv(tmp_path, rows)
    assert {(a.feature, tuple(a.types), a.blocking) for a in found} == {
        ("driver_rating", ("SCHEMA_NEW_COLUMN",), False)
    }
    assert "driver_rating" in (tmp_path / "report.md").read_text()  # listed in the report
    (tmp_path / "strict").mkdir()
    with pytest.raises(validator.DataValidationError, match="feature 'driver_rating': SCHEMA_NEW_COLUMN"):
        validate_csv(tmp_path / "strict", rows, strict_columns=True)


def test_distinct_values_that_jump_against_the_baseline_are_reported(tmp_path):
    """The baseline model's training statistics sit in the registry beside it (the Pusher puts
    them there); a run whose company names are mostly new is reported, naming the counts."""
    rows = read_taxi(3000)
    config = taxi_config(tmp_path)
    (tmp_path / "before").mkdir()
    baseline_stats = statistics_of(config, tmp_path / "before", rows)
    version = tmp_path / "registry" / config.model_name / "1700000000"
    (version / "training_stats").mkdir(parents=True)
    (version / TRAINING_STATS).write_bytes((baseline_stats / "Split-train" / "FeatureStats.pb").read_bytes())
    (version / "model_metadata.json").write_text("{}")
    jumped = rows.copy()
    jumped.loc[:1999, "company"] = [f"Company {i}" for i in range(2000)]  # 2,000 names never seen
    (tmp_path / "after").mkdir()
    found = validate_csv(tmp_path / "after", jumped, registry=tmp_path / "registry")
    [growth] = [a for a in found if a.types == ["DISTINCT_VALUES_GROWTH"]]
    assert growth.feature == "company" and not growth.blocking
    before = next(
        f
        for f in tfdv.load_stats_binary(str(baseline_stats / "Split-train" / "FeatureStats.pb")).datasets[0].features
        if f.path.step[0] == "company"
    ).string_stats.unique
    assert f"the {before:,} in the training data of version 1700000000" in growth.description
    # The same data against itself: nothing to report.
    (tmp_path / "same").mkdir()
    assert validate_csv(tmp_path / "same", rows, registry=tmp_path / "registry") == []


def test_an_inferred_schema_checks_types_and_columns_not_domains(chain, tmp_path):
    """With no curated schema, the eval split's new companies and a column only train has are
    not errors; text in a numeric column still is (the schema inferred from such data says
    BYTES where the config asks for a number)."""
    config = taxi_config(tmp_path, validation={"schema_path": ""})
    gen_schema(config, chain.statistics, tmp_path / "schema")
    schema = load_schema(str(tmp_path / "schema"))
    assert not schema.string_domain and all(not f.HasField("domain") for f in schema.feature)
    assert validate(config, chain.statistics, tmp_path / "schema", tmp_path).anomalies == []
    rows = read_taxi(1500)
    rows.loc[[3, 700], "trip_miles"] = "twelve"
    (tmp_path / "bad").mkdir()
    with pytest.raises(SchemaError, match="'trip_miles' is BYTES but transform 'zscore' needs a number"):
        statistics_of(config, tmp_path / "bad", rows)


def stats_with_extra(config, tmp_path, name: str) -> str:
    """ExampleGen on input.csv + labelled.csv, then StatisticsGen: the statistics' directory."""
    example_gen.run(
        config,
        example_gen.Inputs(data_source=str(tmp_path / "input.csv"), extra_data=str(tmp_path / "labelled.csv")),
        example_gen.Outputs(examples=str(tmp_path / f"examples{name}")),
    )
    statistics_gen.run(
        config,
        statistics_gen.Inputs(examples=str(tmp_path / f"examples{name}")),
        statistics_gen.Outputs(statistics=str(tmp_path / f"statistics{name}")),
    )
    return str(tmp_path / f"statistics{name}")


def test_extra_rows_without_the_columns_outside_the_model_pass_the_curated_schema(tmp_path):
    """A labelled request window carries the features and the label only: the curated schema's
    required columns outside them (tips, trip_start_timestamp) are absent there by construction."""
    config = taxi_config(tmp_path)
    rows = read_taxi(1500)
    rows.to_csv(tmp_path / "input.csv", index=False)
    window = read_taxi(1800).iloc[1500:][config.feature_names].copy()
    window[config.label.name] = 1
    window.to_csv(tmp_path / "labelled.csv", index=False)
    stats_with_extra(config, tmp_path, "")
    gen_schema(config, tmp_path / "statistics", tmp_path / "schema")
    outputs = validator.Outputs(anomalies=str(tmp_path / "anomalies"))
    inputs = dict(statistics=str(tmp_path / "statistics"), schema=str(tmp_path / "schema"))
    # Without ExampleGen's summary the validator cannot tell: the absent columns block.
    with pytest.raises(validator.DataValidationError) as err:
        validator.run(config, validator.Inputs(**inputs), outputs)
    assert {a.feature for a in err.value.anomalies} == {"tips", "trip_start_timestamp"}
    assert all("FEATURE_TYPE_LOW_FRACTION_PRESENT" in a.types for a in err.value.anomalies)
    result = validator.run(config, validator.Inputs(**inputs, examples=str(tmp_path / "examples")), outputs)
    assert [a for a in result.anomalies if a.blocking] == []
    # A column the configured data lacks too is still caught.
    rows.loc[:300, "tips"] = None
    rows.to_csv(tmp_path / "input.csv", index=False)
    stats_with_extra(config, tmp_path, "2")
    with pytest.raises(validator.DataValidationError, match="tips"):
        validator.run(
            config,
            validator.Inputs(
                statistics=str(tmp_path / "statistics2"), schema=inputs["schema"], examples=str(tmp_path / "examples2")
            ),
            validator.Outputs(anomalies=str(tmp_path / "anomalies2")),
        )
