"""Monitor: request windows (RequestWindow on log lines the predictor's own writer wrote, from
real taxi rows) judged against a registry version's real training statistics (ExampleGen +
StatisticsGen on the rows it was trained on), the previous window and the evaluated quality;
its decision read by RetrainTrigger; and the monitoring pipeline compiled and run by kfp.local."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from components.monitor import executor as monitor
from components.monitor import quality
from components.request_window import executor as rw
from components.retrain_trigger import executor as trigger
from contracts.config import LabelSpec
from contracts.registry import METADATA_FILE, TRAINING_STATS
from tests.conftest import evaluate, push, read_taxi, taxi_config
from tests.test_data_validation import statistics_of
from tests.test_request_window import T0, served_instances, write_log

VERSION = "1795336860"
DAY = dt.timedelta(days=1)


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """big_tipper as the taxi config derives it: tips > 0.2 * fare, a zero/missing fare negative."""
    tips = pd.to_numeric(frame["tips"].replace("", None)).fillna(0).to_numpy()
    fare = pd.to_numeric(frame["fare"].replace("", None)).fillna(0).to_numpy()
    return ((fare > 0) & (tips > 0.2 * fare)).astype(int)


def times_ten(frame: pd.DataFrame, column: str = "fare") -> pd.DataFrame:
    frame = frame.copy()
    value = pd.to_numeric(frame[column].replace("", None)) * 10
    frame[column] = value.map(lambda v: "" if pd.isna(v) else f"{v:g}")
    return frame


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A registry holding version VERSION trained on the first 3,000 taxi rows (its real train
    split's statistics), evaluated at AUC 0.9; and those rows, shuffled, to serve."""
    tmp = tmp_path_factory.mktemp("monitor")
    config = taxi_config(tmp)
    rows = read_taxi(3000)
    (tmp / "train").mkdir()
    statistics = statistics_of(config, tmp / "train", rows)
    version = tmp / "registry" / config.model_name / VERSION
    (version / "training_stats").mkdir(parents=True)
    (version / TRAINING_STATS).write_bytes((statistics / "Split-train" / "FeatureStats.pb").read_bytes())
    metadata = {"task": "binary", "metrics": {"auc": 0.9, "binary_accuracy": 0.85}, "label": {"name": "big_tipper"}}
    (version / METADATA_FILE).write_text(json.dumps(metadata))
    return config, str(tmp / "registry"), rows.sample(frac=1.0, random_state=1).reset_index(drop=True)


@pytest.fixture
def registry(served, tmp_path) -> str:
    """A copy of the served registry, its window history empty."""
    shutil.copytree(served[1], tmp_path / "registry")
    return str(tmp_path / "registry")


def judge(monkeypatch, tmp_path, served, registry, frame, day=0, predictions=None, labels=None, name="w"):
    """Logs `frame` (10 instances a request) on day `day` after T0, windows that day, monitors it."""
    config = served[0]
    instances = served_instances(config, frame)
    if predictions is None:
        predictions = [round(0.05 + (i % 17) / 20, 3) for i in range(len(instances))]
    logs = tmp_path / name / "logs"
    ids = write_log(monkeypatch, logs, instances, list(predictions), version=VERSION, batch=10, start=T0 + day * DAY)
    labels_file = ""
    if labels is not None:
        rows = [{"request_id": ids[i // 10], "index": i % 10, "big_tipper": int(v)} for i, v in enumerate(labels)]
        labels_file = str(tmp_path / name / "labels.csv")
        pd.DataFrame(rows).to_csv(labels_file, index=False)
    out = tmp_path / name
    rw.run(
        config,
        rw.Inputs(
            request_log=str(logs),
            start=(T0 + day * DAY).isoformat(),
            end=(T0 + (day + 1) * DAY).isoformat(),
            labels=labels_file,
            model_registry=registry,
        ),
        rw.Outputs(window=str(out / "window"), statistics=str(out / "statistics")),
    )
    outputs = monitor.Outputs(
        decision=str(out / "decision"), report=str(out / "report.md"), view=str(out / "report.html")
    )
    inputs = monitor.Inputs(window=str(out / "window"), statistics=str(out / "statistics"), model_registry=registry)
    return monitor.run(config, inputs, outputs), out


def history(served, registry) -> list[str]:
    base = Path(monitor.history_dir(registry, served[0].model_name))
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


# ------------------------------------------------------------------------------------ decisions


def test_unshifted_windows_are_ok_and_each_is_kept_for_the_next(monkeypatch, tmp_path, served, registry):
    _, _, rows = served
    first, out = judge(monkeypatch, tmp_path, served, registry, rows.iloc[:1000], day=0, name="a")
    assert first.decision == "ok" and first.reasons == [] and first.rows == 1000
    assert first.model_version == VERSION and first.previous_window == ""
    assert any(n.startswith("no previous window of this model") for n in first.notes)
    assert any(f"training data of version {VERSION}, which served 1,000 of 1,000 rows" in n for n in first.notes)
    assert json.loads((out / "decision" / "decision.json").read_text())["decision"] == "ok"
    full = json.loads((out / "decision" / "monitor.json").read_text())
    fare = next(f for f in full["skew"]["features"] if f["feature"] == "fare")
    assert fare["verdict"] == "ok" and fare["distance"] < fare["effective_threshold"]
    assert first.metrics["skew_fare"] == fare["distance"] and "drift_fare" not in first.metrics
    assert history(served, registry) == ["20261121T000000Z"]

    second, out = judge(monkeypatch, tmp_path, served, registry, rows.iloc[1000:2000], day=1, name="b")
    assert second.decision == "ok", second.reasons
    assert second.previous_window == "20261121T000000Z" and "drift_fare" in second.metrics
    assert "prediction_drift" in second.metrics  # same version both windows: predictions compared
    assert any(n.startswith("prediction drift (not a retrain reason alone): prediction:") for n in second.notes)
    assert history(served, registry) == ["20261121T000000Z", "20261122T000000Z"]
    assert "**Decision: ok**" in (out / "report.md").read_text()


def test_fill_values_count_as_missing_as_in_training(monkeypatch, tmp_path, served, registry):
    """The client sends "" / 0 for what the training data lacks: RequestWindow's own statistics
    count them as missing, so missing shares match training's and no feature shows false skew."""
    config, _, rows = served
    result, out = judge(monkeypatch, tmp_path, served, registry, rows.iloc[:1000], name="a")
    window = tfdv.load_stats_binary(str(out / "statistics" / "Split-window" / "FeatureStats.pb"))
    training = tfdv.load_stats_binary(str(Path(registry) / config.model_name / VERSION / TRAINING_STATS))

    def missing_share(stats) -> dict[str, float]:
        dataset = stats.datasets[0]
        found = {}
        for f in dataset.features:
            common = (f.num_stats if f.HasField("num_stats") else f.string_stats).common_stats
            found[f.path.step[0]] = common.num_missing / dataset.num_examples
        return found

    want, got = missing_share(training), missing_share(window)
    lacking = [n for n in config.feature_names if want[n] > 0.05]
    kinds = {f.type for f in window.datasets[0].features if f.path.step[0] in lacking}
    assert len(kinds) > 1, "the taxi rows lack both text and numeric values"
    for name in config.feature_names:
        assert got[name] == pytest.approx(want[name], abs=0.05), name
    filled = json.loads((out / "window" / "window.json").read_text())["fills_as_missing"]
    assert set(lacking) <= set(filled)
    assert result.decision == "ok", result.reasons
    skew = json.loads((out / "decision" / "monitor.json").read_text())["skew"]["features"]
    company = next(f for f in skew if f["feature"] == "company")
    assert company["distance"] < 0.1


def test_fare_times_ten_asks_for_a_retrain_with_the_reason(monkeypatch, tmp_path, served, registry):
    _, _, rows = served
    judge(monkeypatch, tmp_path, served, registry, rows.iloc[:1000], day=1, name="b")
    result, out = judge(monkeypatch, tmp_path, served, registry, times_ten(rows.iloc[2000:3000]), day=2, name="c")
    assert result.decision == "retrain"
    skew = [r for r in result.reasons if r.startswith("skew: ")]
    drift = [r for r in result.reasons if r.startswith("drift: ")]
    # fare for sure. Not only fare: near their noise floor, low-cardinality features (pickup_longitude
    # 0.064 vs 0.057, dropoff_census_tract 0.097 vs 0.080) are flagged here too (see the report).
    assert "fare" in [r.split()[1] for r in skew] and "fare" in [r.split()[1] for r in drift], result.reasons
    assert skew[0].startswith("skew: fare JSD 0.") and skew[0].endswith("(1,000 rows)")
    assert result.previous_window == "20261122T000000Z" and result.metrics["skew_fare"] > 0.3
    report = (out / "report.md").read_text()
    assert "**Decision: retrain**" in report and "| fare | jensen_shannon_divergence |" in report
    assert "<h2 class=retrain>Decision: retrain</h2>" in (out / "report.html").read_text()
    # RetrainTrigger reads the Monitor's decision output as it is.
    config = served[0]
    started = trigger.run(
        config,
        trigger.Inputs(decision=str(out / "decision"), model_registry=registry, now="2026-11-23T03:00:00+00:00"),
        trigger.Outputs(result=str(tmp_path / "trigger")),
    )
    assert started.triggered and started.run["params"]["run_reason"] == "monitor: " + "; ".join(result.reasons)


def test_a_small_window_is_too_small_and_not_kept(monkeypatch, tmp_path, served, registry):
    _, _, rows = served
    before = history(served, registry)
    result, out = judge(monkeypatch, tmp_path, served, registry, times_ten(rows.iloc[:50]), day=5, name="d")
    assert result.decision == "too_small"
    assert result.reasons == ["the window has 50 rows; at least 100 are needed to judge"]
    assert history(served, registry) == before  # the next window is compared with the last one that could be judged
    assert json.loads((out / "decision" / "decision.json").read_text())["decision"] == "too_small"


def test_live_quality_drop_asks_for_a_retrain(monkeypatch, tmp_path, served, registry):
    _, _, rows = served
    frame = rows.iloc[:400]
    truth = labels_of(frame)
    rng = np.random.default_rng(0)
    good = np.clip(truth * 0.6 + 0.2 + rng.normal(0, 0.1, len(truth)), 0, 1).round(3)
    ok, _ = judge(monkeypatch, tmp_path, served, registry, frame, day=10, predictions=good, labels=truth, name="good")
    assert ok.labelled_rows == 400 and ok.decision == "ok", ok.reasons
    assert ok.metrics["live_auc"] > 0.95
    noise = rng.uniform(0, 1, len(truth)).round(3)
    bad, out = judge(
        monkeypatch, tmp_path, served, registry, frame, day=11, predictions=noise, labels=truth, name="bad"
    )
    assert bad.decision == "retrain"
    assert bad.reasons == [
        f"quality: auc {bad.metrics['live_auc']:.3f} < 0.810 (evaluated 0.900, 400 labelled rows)"
    ], bad.reasons
    assert "auc" in (out / "report.md").read_text()


# ------------------------------------------------------------------------------------ bad input


def test_bad_input_is_refused_with_a_message_and_no_decision(monkeypatch, tmp_path, served, registry):
    config, _, rows = served
    _, out = judge(monkeypatch, tmp_path, served, registry, rows.iloc[:200], day=20, name="e")
    inputs = monitor.Inputs(window=str(out / "window"), statistics=str(out / "statistics"), model_registry=registry)

    def refused(inputs, match, cfg=config):
        where = tmp_path / "refused"
        with pytest.raises(monitor.MonitorError, match=match):
            monitor.run(cfg, inputs, monitor.Outputs(decision=str(where)))
        assert not where.exists()

    refused(
        monitor.Inputs(window=inputs.window, statistics=inputs.statistics, model_registry=str(tmp_path / "other")),
        rf"served by model version\(s\) '{VERSION}', which .* does not hold \(its complete versions: none\)",
    )
    refused(monitor.Inputs(str(tmp_path), inputs.statistics, registry), "must be RequestWindow's window output")
    summary = json.loads((out / "window" / "window.json").read_text())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "window.json").write_text(json.dumps(summary | {"rows": 0, "model_versions": {}}))
    refused(monitor.Inputs(str(tmp_path / "empty"), inputs.statistics, registry), "has no served rows")
    data = config.model_dump(mode="json", exclude_none=True)
    data["features"].append({"name": "tolls", "transform": "zscore"})
    wider = type(config).model_validate(data)
    refused(inputs, r"feature\(s\) \['tolls'\] of the config are not in the window's statistics", cfg=wider)


def test_quality_per_task():
    binary = LabelSpec(name="y", positive=["Yes"])
    found = quality.measure(binary, pd.Series(["Yes", "No", "Yes", "No"]), pd.Series([0.9, 0.2, 0.4, 0.6]), [])
    assert found == {"binary_accuracy": 0.5, "auc": 0.75}
    multi = LabelSpec(name="y", task="multiclass")
    # Labels as class names or as the class index (ExampleGen's encoding).
    found = quality.measure(multi, pd.Series(["b", 2, "a", 0]), pd.Series(["b", "c", "b", "a"]), ["a", "b", "c"])
    assert found == {"accuracy": 0.75}
    regression = LabelSpec(name="y", task="regression")
    found = quality.measure(regression, pd.Series([1.0, 2.0, 4.0]), pd.Series([2.0, 2.0, 1.0]), [])
    assert found == pytest.approx({"mean_absolute_error": 4 / 3, "root_mean_squared_error": np.sqrt(10 / 3)})
    judged = quality.judge(regression, pd.Series([1.0] * 5), pd.Series([3.0] * 5), {"metrics": {}}, 0.1, 10)
    assert judged["note"] == "5 labelled rows; at least 10 are needed to judge quality" and not judged["dropped"]
    judged = quality.judge(
        regression, pd.Series([1.0] * 5), pd.Series([3.0] * 5), {"metrics": {"mean_absolute_error": 1.5}}, 0.1, 5
    )
    assert judged["dropped"] and judged["limit"] == pytest.approx(1.65) and judged["live"] == 2.0


# ------------------------------------------------------------------------------------ the pipeline


def test_monitoring_pipeline_compiles_for_both_targets(tmp_path):
    import yaml

    from pipelines.compile import compile_all_monitoring

    config = taxi_config(tmp_path)
    paths = compile_all_monitoring(config, tmp_path)
    assert [p.name for p in paths] == ["chicago-taxi-monitor.kfp.yaml", "chicago-taxi-monitor.vertex.yaml"]
    spec = next(yaml.safe_load_all(paths[0].read_text()))
    assert list(spec["root"]["dag"]["tasks"]) == ["monitor", "request-window", "retrain-trigger"]
    assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {"request_log", "window_start", "window_end", "window_hours", "labels", "model_registry"} <= set(params)
    assert {"retrain_target", "training_package", "retrain_params", "cooldown_hours"} <= set(params)


def test_monitor_cli_refuses_an_unknown_retrain_target():
    from typer.testing import CliRunner

    from pipelines.cli import app

    result = CliRunner().invoke(app, ["monitor", "--request-log", "x.jsonl", "--retrain-target", "argo"])
    assert result.exit_code == 2
    assert "--retrain-target must be record, local, kfp or vertex, got 'argo'" in result.output


@pytest.mark.pipeline
def test_monitoring_pipeline_runs_locally_and_retrains_on_a_shift(chain, monkeypatch, tmp_path):
    """A real pushed model (the chain's, evaluated and pushed); unshifted rows: ok, no retrain;
    then fare x10: retrain, recorded with the reason."""
    from pipelines.monitoring_pipeline import run_monitor_local

    registry = tmp_path / "registry"
    evaluate(chain, chain.config, tmp_path / "eval")
    pushed = push(chain, chain.config, tmp_path / "eval" / "blessing", tmp_path / "pushed", registry)
    rows = read_taxi(3000).sample(frac=1.0, random_state=2).reset_index(drop=True)
    logs = tmp_path / "logs"
    for day, frame in enumerate([rows.iloc[:1000], times_ten(rows.iloc[1000:2000])]):
        instances = served_instances(chain.config, frame)
        predictions = [round(0.05 + (i % 17) / 20, 3) for i in range(len(instances))]
        write_log(monkeypatch, logs / f"day{day}", instances, predictions, version=str(pushed.version), batch=10,
                  start=T0 + day * DAY)  # fmt: skip

    # dropoff_census_tract (156 distinct 11-digit ids, 29% missing) sits at ~1.3x its noise floor
    # between same-distribution samples of ~700 rows: its own threshold here (see the report).
    config = taxi_config(tmp_path, monitoring={"thresholds": {"dropoff_census_tract": 0.15}})

    def run(day: int):
        start, end = (T0 + day * DAY).isoformat(), (T0 + (day + 1) * DAY).isoformat()
        done = run_monitor_local(config, tmp_path / "runs", str(logs), start=start, end=end, registry=registry)
        assert list(done.artifacts) == ["request-window", "monitor", "retrain-trigger"]
        decision = json.loads((Path(done.artifacts["monitor"]["decision"]) / "decision.json").read_text())
        result = json.loads((Path(done.artifacts["retrain-trigger"]["result"]) / "retrain.json").read_text())
        return decision, result, done

    decision, result, _ = run(0)
    assert decision["decision"] == "ok" and result["triggered"] is False
    decision, result, done = run(1)
    assert decision["decision"] == "retrain" and any(r.startswith("skew: fare JSD") for r in decision["reasons"])
    assert result["triggered"] is True
    log = trigger.read_triggers(str(registry), chain.config.model_name)
    assert len(log) == 1 and log[0]["reason"] == "; ".join(decision["reasons"])
    assert "Decision: retrain" in Path(done.artifacts["monitor"]["report"]).read_text()
