"""The whole pipeline under kfp.local (SubprocessRunner, this environment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from contracts.registry import latest_version
from pipelines.local_run import RunFailed, run_local
from tests.conftest import TAXI_CSV, read_taxi, taxi_config


def _task_dir(run, task: str) -> dict[str, Path]:
    return {name: Path(path) for name, path in run.artifacts[task].items()}


@pytest.mark.pipeline
def test_whole_pipeline_runs_locally(tmp_path):
    config = taxi_config(tmp_path)  # the full sample; 2 epochs
    # --data-source: the same rows under another name; everything must record this one.
    source = tmp_path / "elsewhere.csv"
    shutil.copy(TAXI_CSV, source)
    run = run_local(config, tmp_path / "runs", data_source=str(source))
    assert list(run.artifacts) == [
        "example-gen",
        "statistics-gen",
        "schema-gen",
        "example-validator",
        "transform",
        "trainer",
        "evaluator",
        "pusher",
    ]
    assert all(seconds > 0 for seconds in run.task_seconds.values()) and len(run.task_seconds) == 8
    assert sorted(p.stem for p in run.logs.glob("*.log")) == sorted([*run.artifacts, "pipeline"])
    assert "Got executor_input" in (run.logs / "trainer.log").read_text()

    examples = _task_dir(run, "example-gen")["examples"]
    assert (examples / "Split-train" / "data_tfrecord-00000-of-00001.gz").exists()
    stats = _task_dir(run, "statistics-gen")
    assert (stats["statistics"] / "Split-eval" / "FeatureStats.pb").exists()
    assert "facets-overview" in stats["statistics_view"].read_text()
    assert (_task_dir(run, "schema-gen")["schema"] / "schema.pbtxt").exists()
    validation = _task_dir(run, "example-validator")
    assert json.loads((validation["anomalies"] / "anomalies.json").read_text()) == []
    assert "No anomalies" in validation["anomalies_report"].read_text()
    graph = _task_dir(run, "transform")["transform_graph"]
    assert (graph / "transform_fn" / "saved_model.pb").exists()
    model = tf.saved_model.load(str(_task_dir(run, "trainer")["model"] / "Format-Serving"))
    assert set(model.signatures) == {"serving_default", "serving_raw"}
    evaluation = tfma.load_eval_result(str(_task_dir(run, "evaluator")["evaluation"]))
    assert len(evaluation.slicing_metrics) > 10  # overall + payment_type + trip_start_hour slices

    assert run.blessing["decision"] == "BLESSED" and run.blessing["overall_metrics"]["auc"] > 0.9
    assert run.push["pushed"]
    latest = latest_version(config.push.registry, config.model_name)
    assert latest.version == run.push["version"] and Path(run.push["destination"], "saved_model.pb").exists()
    # Provenance is what the run read, not the config's data.source.
    assert latest.metadata["data_source"] == run.blessing["data"]["source"] == str(source) != config.data.source
    report = Path(run.artifacts["evaluator"]["report"]).read_text()
    assert str(source) in report and config.data.source not in report


@pytest.mark.pipeline
def test_corrupted_input_fails_at_validation_and_pushes_nothing(tmp_path, capfd):
    rows = read_taxi(2000)
    rows.loc[[10, 900], "trip_miles"] = "n/a"
    rows.to_csv(tmp_path / "corrupt.csv", index=False)
    config = taxi_config(tmp_path)
    with pytest.raises(RunFailed, match="example-validator") as failed:
        run_local(config, tmp_path / "runs", data_source=str(tmp_path / "corrupt.csv"))
    # The steps' output went to their logs, not here; the error names the log and quotes its end.
    assert "data validation failed" not in capfd.readouterr().out
    message, log = str(failed.value), failed.value.log
    assert "data validation failed" in message and "feature 'trip_miles'" in message and str(log) in message
    assert "data validation failed" in log.read_text() and "feature 'trip_miles'" in log.read_text()
    assert not Path(config.push.registry).exists()
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("."))
    assert log == run_dir / "logs" / "example-validator.log"
    assert not (run_dir / "transform").exists() and not (run_dir / "pusher").exists()
