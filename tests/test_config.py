"""The typed config: the shipped one loads; bad ones are rejected naming the field."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.config import ConfigError, load_config, parse_config
from tests.conftest import TAXI_CONFIG


def base() -> dict:
    return yaml.safe_load(TAXI_CONFIG.read_text())


def test_shipped_config_loads():
    cfg = load_config(TAXI_CONFIG)
    assert cfg.label.name == "big_tipper"
    assert "company" in cfg.feature_names
    assert [s.name for s in cfg.split.splits] == ["train", "eval"]
    assert cfg.evaluation.value_thresholds["AUC"].lower_bound == 0.75


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["split"].update(splits=[{"name": "train", "ratio": 0.7}, {"name": "eval", "ratio": 0.2}]),
     "split: Value error, split ratios must sum to 1"),
    (lambda d: d["features"].append({"name": "fare", "transform": "zscore"}), "duplicate feature(s) ['fare']"),
    (lambda d: d["features"].append({"name": "x", "transform": "sqrt"}), "features.15"),
    (lambda d: d["features"].append({"name": "tips", "transform": "zscore"}), "would leak the label"),
    (lambda d: d["model"].update(learning_rate=-1), "model.learning_rate"),
    (lambda d: d["evaluation"].update(value_thresholds={"AUCC": {"lower_bound": 0.5}}), "unknown metric(s) ['AUCC']"),
    (lambda d: d["features"][3].update(buckets=1), "features.3.bucketize.buckets"),
    (lambda d: d.pop("push"), "push: Field required"),
    (lambda d: d["label"].update(zero_denominator="ignore"), "label.zero_denominator"),
    (lambda d: d.update(pipeline_name="Chicago Taxi"), "pipeline_name"),
    (lambda d: d["model"].update(epoch=3), "model.epoch: Extra inputs are not permitted"),
])
def test_invalid_config_names_the_field(mutate, field):
    data = base()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin="taxi.yaml")
    assert field in str(err.value)
    assert "taxi.yaml is invalid" in str(err.value)


def test_config_round_trips_through_json():
    cfg = load_config(TAXI_CONFIG)
    assert parse_config(cfg.to_json()) == cfg
    assert parse_config(cfg.to_json()).fingerprint() == cfg.fingerprint()


def test_cli_rejects_invalid_config_before_running(tmp_path):
    data = base()
    data["model"]["batch_size"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    for command in (["validate-config"], ["compile", "--output-dir", str(tmp_path / "out")], ["run-local"]):
        result = runner.invoke(app, [*command, "--config", str(bad)])
        assert result.exit_code == 2, result.output
        assert "model.batch_size" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_reports_missing_and_malformed_files(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate-config", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipeline_name: [unclosed\n")
    result = runner.invoke(app, ["validate-config", "--config", str(broken)])
    assert result.exit_code == 2 and "not valid YAML" in result.output
