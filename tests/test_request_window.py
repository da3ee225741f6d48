"""RequestWindow: the predictor's request log read as a dataset for a time window.

The log lines are written by the predictor's own writer (serving/predictor/request_log.py,
stdlib only, loaded from its file: the pipeline env does not install the serving package) with
its clock set per request, from real rows of the examples typed as their schemas say (the
predictor coerces each value to the signature's dtype and fills a missing one with 0 / "").
The Cloud Logging export is those same lines wrapped as LogEntry objects in the export's
hourly layout."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from components.common.readers import load_schema
from components.monitor import quality
from components.request_window import executor as rw
from components.request_window.logs import RequestLogError, window_bounds
from contracts.monitoring import (
    PREDICTION,
    PROBABILITY_PREFIX,
    REQUEST_ID,
    WINDOW_CSV,
    WINDOW_SUMMARY,
    served_versions_in_registry,
)
from contracts.registry import METADATA_FILE, TRAINING_STATS
from tests.conftest import REPO, example_config, read_taxi, taxi_config

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)  # midnight: requests every 12 minutes from here
STEP = dt.timedelta(minutes=12)
_FILL = {"INT": 0, "FLOAT": 0.0, "BYTES": ""}


def request_log_module():
    spec = importlib.util.spec_from_file_location("_request_log", REPO / "serving" / "predictor" / "request_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def served_instances(config, frame: pd.DataFrame) -> list[dict]:
    """Rows as the predictor logs them: the model's features, typed by the schema, missing filled."""
    types = {f.name: f.type for f in load_schema(config.validation.schema_path).feature}
    kinds = {1: "BYTES", 2: "INT", 3: "FLOAT"}  # schema_pb2.FeatureType
    out = []
    for row in frame.to_dict("records"):
        instance = {}
        for name in config.feature_names:
            kind, text = kinds[types[name]], row[name]
            if text in ("", "NA"):
                instance[name] = _FILL[kind]
            else:
                instance[name] = int(float(text)) if kind == "INT" else float(text) if kind == "FLOAT" else text
        out.append(instance)
    return out


def write_log(monkeypatch, path, instances, predictions, *, version="1795336860", batch=1, start=T0, model="m"):
    """Requests of `batch` instances, one every STEP from `start`; returns their request ids."""
    module = request_log_module()
    logger = module.RequestLogger(str(path), model)
    ids = []
    for n, first in enumerate(range(0, len(instances), batch)):
        when = start + n * STEP
        monkeypatch.setattr(module, "_now", lambda when=when: when.isoformat(timespec="milliseconds")[:-6] + "Z")
        ids.append(f"req-{version}-{n}")
        logger.predictions(
            request_id=ids[-1],
            model_name=model,
            model_version=version,
            task="binary",
            protocol="v1",
            features=instances[first : first + batch],
            predictions=predictions[first : first + batch],
        )
    logger.close()
    return ids


def taxi_log(monkeypatch, tmp_path, rows=240, **kwargs):
    """240 real taxi rows, one request each, every 12 minutes over two days from T0."""
    config = taxi_config(tmp_path)
    frame = read_taxi(rows)
    instances = served_instances(config, frame)
    predictions = [round(0.05 + (i % 17) / 20, 3) for i in range(len(instances))]
    log_dir = tmp_path / "logs"
    ids = write_log(monkeypatch, log_dir, instances, predictions, **kwargs)
    return config, log_dir, instances, predictions, ids


def run_window(config, tmp_path, request_log, start="2026-11-20T12:00:00Z", end="2026-11-21T00:00:00Z", **inputs):
    out = tmp_path / "out"
    result = rw.run(
        config,
        rw.Inputs(request_log=str(request_log), start=start, end=end, **inputs),
        rw.Outputs(window=str(out / "window"), statistics=str(out / "statistics")),
    )
    window = pd.read_csv(out / "window" / WINDOW_CSV, dtype={REQUEST_ID: str}, keep_default_na=False)
    summary = json.loads((out / "window" / WINDOW_SUMMARY).read_text())
    return result, window, summary, out


def stats_of(out: Path):
    stats = tfdv.load_stats_binary(str(out / "statistics" / "Split-window" / "FeatureStats.pb"))
    return stats.datasets[0], {f.path.step[0]: f for f in stats.datasets[0].features}


# ------------------------------------------------------------------------------------ the window


def test_predictor_log_window_typed_as_training_data(monkeypatch, tmp_path):
    config, log_dir, instances, predictions, _ = taxi_log(monkeypatch, tmp_path)
    result, window, summary, out = run_window(config, tmp_path, log_dir)
    # [12:00, 24:00) of day one: requests 60..119 (one every 12 minutes from midnight).
    assert result.rows == summary["rows"] == 60 == len(window)
    assert summary["skipped"] == {"outside_window": 180} and summary["rejected"] == 0
    assert summary["model_versions"] == {"1795336860": 60} and summary["labelled_rows"] == 0
    assert summary["types_from"].startswith("schema ") and summary["column_types"]["trip_seconds"] == "INT"
    assert window["request_time"].iloc[0] == "2026-11-20T12:00:00.000Z"
    assert window["request_time"].iloc[-1] == "2026-11-20T23:48:00.000Z"
    for name in config.feature_names:
        assert window[name].tolist() == [instances[i][name] for i in range(60, 120)], name
    assert window[PREDICTION].tolist() == predictions[60:120]
    dataset, features = stats_of(out)
    assert dataset.num_examples == 60
    assert features["trip_seconds"].type == features["trip_seconds"].INT
    assert features["fare"].type == features["fare"].FLOAT
    assert features["company"].type == features["company"].STRING
    assert PREDICTION in features and "request_id" not in features and "request_time" not in features
    assert features["fare"].num_stats.mean == pytest.approx(window["fare"].mean(), rel=1e-6)


def test_rejected_requests_other_models_and_defaults(monkeypatch, tmp_path):
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path, rows=120)
    module = request_log_module()
    logger = module.RequestLogger(str(log_dir / "more.jsonl"), "m")
    monkeypatch.setattr(module, "_now", lambda: "2026-11-20T13:00:00.000Z")
    for error in ["instances[0] is missing feature ['fare']", "malformed JSON", "malformed JSON"]:
        logger.rejected(request_id="bad", model_name="m", model_version="1795336860", protocol="v1", error=error)
    logger.close()
    write_log(
        monkeypatch, log_dir / "other.jsonl", [{"fare": 1.0}], [0.5], start=T0 + dt.timedelta(hours=13), model="x"
    )
    result, window, summary, _ = run_window(config, tmp_path, log_dir, model_name="m")
    assert result.rejected == 3 and summary["rejected_errors"]["malformed JSON"] == 2
    assert summary["skipped"]["other_model"] == 1 and result.rows == 60
    assert len(summary["sources"]) == 3 and summary["formats"] == {"predictor": 60}
    start, end = window_bounds("", "", 24, now=T0)
    assert (start, end) == (T0 - dt.timedelta(hours=24), T0)
    with pytest.raises(RequestLogError, match="not an ISO 8601 time"):
        window_bounds("yesterday", "", 24)
    with pytest.raises(RequestLogError, match="is not before its end"):
        window_bounds("2026-11-21T00:00:00Z", "2026-11-20T00:00:00Z", 24)


def cloud_logging_export(log_dir: Path, bucket: Path, log_id="stdout") -> None:
    """The predictor's lines as Cloud Logging exports them: hourly LogEntry files by UTC date."""
    for line in next(log_dir.glob("*.jsonl")).read_text().splitlines():
        payload = json.loads(line)
        when = dt.datetime.fromisoformat(payload["timestamp"])
        entry = {
            "insertId": f"{payload['request_id']}-{payload['index']}",
            "jsonPayload": payload,
            "logName": f"projects/p/logs/{log_id}",
            "receiveTimestamp": (when + dt.timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
            "resource": {"type": "k8s_container", "labels": {"container_name": "kserve-container"}},
            "severity": "INFO",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",  # nanoseconds
        }
        if payload["index"] % 2:
            entry["jsonPayload"] = {k: v for k, v in payload.items() if k != "timestamp"}  # the agent took it
        folder = bucket / log_id / when.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{when:%H}:00:00_{when:%H}:59:59_S0.json"
        with open(folder / name, "a") as f:
            f.write(json.dumps(entry) + "\n")
            if when.minute == 0:  # the export does not promise to deduplicate
                f.write(json.dumps(entry) + "\n")


def test_cloud_logging_export_gives_the_same_window(monkeypatch, tmp_path):
    config, log_dir, instances, *_ = taxi_log(monkeypatch, tmp_path, batch=2)
    bucket = tmp_path / "bucket"
    cloud_logging_export(log_dir, bucket)
    far = bucket / "stdout" / "2026" / "10" / "01"
    far.mkdir(parents=True)
    (far / "00:00:00_00:59:59_S0.json").write_text("not even json\n")
    _, from_log, _, _ = run_window(config, tmp_path / "a", log_dir)
    _, from_export, summary, _ = run_window(config, tmp_path / "b", bucket)
    assert len(from_export) == 120 and summary["formats"] == {"cloud_logging": 120}
    assert summary["skipped"]["duplicate"] == 24 and summary["files_skipped_by_date"] == 1
    assert "not_json" not in summary["skipped"]
    pd.testing.assert_frame_equal(from_export, from_log)
    assert set(from_export["request_index"]) == {0, 1}


# ------------------------------------------------------------------------------------ labels


def test_labels_join_by_request_and_index(monkeypatch, tmp_path):
    config, log_dir, _, _, ids = taxi_log(monkeypatch, tmp_path, batch=2)
    frame = read_taxi(240)
    truth = (frame["tips"].astype(float) > 0.2 * frame["fare"].astype(float)).astype(int)
    labels = pd.DataFrame(
        {"request_id": [ids[i // 2] for i in range(240)], "index": [i % 2 for i in range(240)], "big_tipper": truth}
    )
    labels = labels.iloc[::3]  # a third of the answers arrived
    labels.to_csv(tmp_path / "labels.csv", index=False)
    result, window, summary, out = run_window(config, tmp_path, log_dir, labels=str(tmp_path / "labels.csv"))
    in_window = labels[labels["request_id"].isin(set(window["request_id"]))]
    assert result.labelled_rows == summary["labelled_rows"] == len(in_window) == 40
    assert summary["labels"]["unmatched"] == len(labels) - 40 and summary["labels"]["by_index"]
    got = window[window["big_tipper"] != ""].set_index(["request_id", "request_index"])["big_tipper"]
    want = in_window.set_index(["request_id", "index"])["big_tipper"]
    assert sorted(got.astype(int).items()) == sorted(want.items())
    _, features = stats_of(out)
    assert features["big_tipper"].type == features["big_tipper"].INT
    assert features["big_tipper"].num_stats.common_stats.num_missing == 80

    # Without index, a label can only name a single-instance request.
    labels.drop(columns="index").to_json(tmp_path / "labels.jsonl", orient="records", lines=True)
    with pytest.raises(RequestLogError, match="has no 'index' column, but request 'req-1795336860-60'"):
        run_window(config, tmp_path / "x", log_dir, labels=str(tmp_path / "labels.jsonl"))


def test_labels_without_index_for_single_instance_requests(monkeypatch, tmp_path):
    config, log_dir, _, _, ids = taxi_log(monkeypatch, tmp_path, rows=120)
    rows = [{"request_id": ids[n], "big_tipper": n % 2} for n in range(60, 120, 4)]
    rows.append({"request_id": ids[60], "big_tipper": 1})  # a correction: the last one counts
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result, window, summary, _ = run_window(config, tmp_path, log_dir, labels=str(tmp_path / "labels.jsonl"))
    assert result.labelled_rows == 15 and summary["labels"]["repeated_keys"] == 1
    assert window.loc[window["request_id"] == ids[60], "big_tipper"].tolist() == ["1"]
    (tmp_path / "bad.csv").write_text("request_id,label\nreq-1,1\n")
    with pytest.raises(RequestLogError, match=r"has no column\(s\) \['big_tipper'\]"):
        run_window(config, tmp_path / "x", log_dir, labels=str(tmp_path / "bad.csv"))


def test_text_labels_are_kept_as_given(monkeypatch, tmp_path):
    """The schema types the label as ExampleGen encoded it (an INT index); the labels file holds
    the label as the world knows it: "Yes"/"No" for a binary label, class names for multiclass."""
    config, log_dir, _, _, ids = taxi_log(monkeypatch, tmp_path, rows=120)
    rows = [{"request_id": ids[n], "big_tipper": "Yes" if n % 3 == 0 else "No"} for n in range(60, 120, 2)]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    result, window, summary, out = run_window(config, tmp_path, log_dir, labels=str(tmp_path / "labels.csv"))
    assert result.labelled_rows == summary["labelled_rows"] == len(rows) == 30
    assert summary["labels"]["bad_values"] == 0 and summary["column_types"]["big_tipper"] == "BYTES"
    got = window.set_index("request_id")["big_tipper"]
    assert [got[r["request_id"]] for r in rows] == [r["big_tipper"] for r in rows]
    _, features = stats_of(out)
    assert features["big_tipper"].type == features["big_tipper"].STRING

    config = example_config("penguins", tmp_path / "p")
    frame = pd.read_csv(REPO / config.data.source, dtype=str, keep_default_na=False).head(40)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    predictions = [{"class": classes[i % 3], "probabilities": {c: 1 / 3 for c in classes}} for i in range(40)]
    ids = write_log(monkeypatch, tmp_path / "plogs", served_instances(config, frame), predictions)
    truth = frame["species"].tolist()
    labels = [{"request_id": ids[i], "species": truth[i]} for i in range(0, 40, 2)]
    (tmp_path / "species.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    result, window, summary, _ = run_window(
        config,
        tmp_path / "p",
        tmp_path / "plogs",
        start="2026-11-20T00:00:00Z",
        end="2026-11-21T00:00:00Z",
        labels=str(tmp_path / "species.jsonl"),
    )
    assert result.labelled_rows == len(labels) == 20 and summary["labels"]["bad_values"] == 0
    labelled = window[window["species"] != ""]
    assert labelled["species"].tolist() == truth[0:40:2]
    # The Monitor's live quality reads these class names as they are.
    want = sum(truth[i] == classes[i % 3] for i in range(0, 40, 2)) / 20
    accuracy = quality.measure(config.label, labelled["species"], labelled[PREDICTION], classes)["accuracy"]
    assert accuracy == pytest.approx(want)


# ------------------------------------------------------------------------------------ predictions per task


def test_multiclass_predictions_become_class_and_probability_columns(monkeypatch, tmp_path):
    config = example_config("penguins", tmp_path)
    frame = pd.read_csv(REPO / config.data.source, dtype=str, keep_default_na=False).head(40)
    instances = served_instances(config, frame)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    predictions = [
        {"class": classes[i % 3], "probabilities": {c: (0.8 if c == classes[i % 3] else 0.1) for c in classes}}
        for i in range(40)
    ]
    write_log(monkeypatch, tmp_path / "logs", instances, predictions)
    _, window, summary, out = run_window(
        config, tmp_path, tmp_path / "logs", start="2026-11-20T00:00:00Z", end="2026-11-21T00:00:00Z"
    )
    assert summary["prediction"] == {"kind": "class", "classes": classes}
    assert window[PREDICTION].tolist() == [classes[i % 3] for i in range(40)]
    assert window[PROBABILITY_PREFIX + "Gentoo"].tolist() == [0.8 if i % 3 == 2 else 0.1 for i in range(40)]
    _, features = stats_of(out)
    assert features[PREDICTION].type == features[PREDICTION].STRING
    assert features["body_mass_g"].type == features["body_mass_g"].INT


# ------------------------------------------------------------------------------------ bad input


def test_empty_window_says_where_the_requests_were(monkeypatch, tmp_path):
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path, rows=50)
    out = tmp_path / "out"
    with pytest.raises(RequestLogError) as err:
        run_window(config, tmp_path, log_dir, start="2026-11-25T00:00:00Z", end="2026-11-26T00:00:00Z")
    assert str(err.value).startswith(
        f"no prediction lines between 2026-11-25T00:00:00.000Z and 2026-11-26T00:00:00.000Z in {log_dir}; "
        "50 lines were outside the window; the newest was at 2026-11-20T09:48:00.000Z"
    )
    assert not out.exists()  # nothing written
    with pytest.raises(RequestLogError, match="matched no files"):
        run_window(config, tmp_path, tmp_path / "nowhere")


def test_lines_that_are_not_json(monkeypatch, tmp_path, caplog):
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path, rows=120)
    log_file = next(log_dir.glob("*.jsonl"))
    lines = log_file.read_text().splitlines()
    lines[3] = lines[3][:40]  # a line cut short
    lines.insert(10, "Traceback (most recent call last):")
    log_file.write_text("\n".join(lines) + "\n")
    result, _, summary, _ = run_window(config, tmp_path, log_dir)
    assert summary["skipped"]["not_json"] == 2 and result.rows == 60
    assert summary["not_json_at"][0].startswith(f"{log_file}:4: ") and f"{log_file}:11: " in summary["not_json_at"][1]
    assert any("2 of 121 lines" in w for w in result.warnings)
    (tmp_path / "garbage.log").write_text("GET /v1/models/m 200\nnot json either\n")
    with pytest.raises(RequestLogError, match=r"none of the 2 lines in .*garbage.log is JSON \(first at .*:1: "):
        run_window(config, tmp_path / "x", tmp_path / "garbage.log")


def test_features_missing_from_the_logs(monkeypatch, tmp_path):
    config = taxi_config(tmp_path)
    instances = served_instances(config, read_taxi(120))
    for i, instance in enumerate(instances):
        del instance["dropoff_census_tract"]  # in no line
        if i % 4 == 0:
            del instance["company"]  # in some lines
    write_log(monkeypatch, tmp_path / "logs", instances, [0.5] * 120)
    with pytest.raises(RequestLogError, match=r"feature\(s\) \['dropoff_census_tract'\] of the config are in none"):
        run_window(config, tmp_path, tmp_path / "logs")
    for instance in instances:
        instance["dropoff_census_tract"] = "not a number"
    write_log(monkeypatch, tmp_path / "logs2", instances, [0.5] * 120)
    result, window, summary, out = run_window(config, tmp_path, tmp_path / "logs2")
    assert summary["missing_values"] == {"company": 15}
    assert summary["bad_values"] == {"dropoff_census_tract": 60}  # an INT column: counted, left missing
    assert any("do not fit the column's type" in w for w in result.warnings)
    _, features = stats_of(out)
    # The lines without it, and those the client filled with "" (counted as training counts them).
    filled = summary["fills_as_missing"]["company"]
    assert filled == int((window["company"] == "").sum()) - 15 > 0
    assert features["company"].string_stats.common_stats.num_missing == 15 + filled


def test_versions_counted_and_checked_against_the_registry(monkeypatch, tmp_path):
    config, log_dir, instances, predictions, _ = taxi_log(monkeypatch, tmp_path, rows=120)
    write_log(
        monkeypatch,
        log_dir / "canary.jsonl",
        instances[:30],
        predictions[:30],
        version="1795400000",
        start=T0 + dt.timedelta(hours=12),
    )
    _, _, summary, _ = run_window(config, tmp_path, log_dir)
    assert summary["model_versions"] == {"1795336860": 60, "1795400000": 30}

    registry = tmp_path / "registry"
    stable = registry / config.model_name / "1795336860"
    (stable / "training_stats").mkdir(parents=True)
    (stable / METADATA_FILE).write_text(json.dumps({"version": 1795336860}))
    found = served_versions_in_registry(str(registry), config.model_name, ["1795336860", "1795400000", ""])
    assert found["1795336860"].path == str(stable) and found["1795400000"] is None and found[""] is None
    with pytest.raises(
        RequestLogError,
        match=r"served by model version\(s\) '1795400000', which .* does not hold "
        r"\(its complete versions: \[1795336860\]\)",
    ):
        run_window(config, tmp_path / "x", log_dir, model_registry=str(registry))

    # The served version's training statistics type the columns (here: trip_seconds as FLOAT).
    canary = registry / config.model_name / "1795400000"
    (canary / "training_stats").mkdir(parents=True)
    (canary / METADATA_FILE).write_text("{}")
    train = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"trip_seconds": [1.5, 2.0], "fare": [1.0, 2.0]}))
    (canary / TRAINING_STATS).write_bytes(train.SerializeToString())
    result, window, summary, _ = run_window(config, tmp_path / "y", log_dir, model_registry=str(registry))
    assert result.types_from == f"training statistics {canary / TRAINING_STATS}"
    assert summary["column_types"]["trip_seconds"] == "FLOAT" and summary["registry_versions"]["1795400000"]


def test_outputs_are_whole_or_absent(monkeypatch, tmp_path):
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path, rows=120)
    _, _, first, out = run_window(config, tmp_path, log_dir)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert [str(p) for p in before] == [
        "statistics", "statistics/Split-window", "statistics/Split-window/FeatureStats.pb",
        "window", "window/labelled.csv", "window/window.csv", "window/window.json",
    ]  # fmt: skip

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rw, "write_json", broken)
    with pytest.raises(OSError, match="disk full"):
        run_window(config, tmp_path, log_dir, start="2026-11-20T00:00:00Z")
    # The failed run left the earlier outputs as they were, and no staging directory.
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert json.loads((out / "window" / WINDOW_SUMMARY).read_text()) == first
    assert not [p for p in os.listdir(out) if p.startswith(".")]
    monkeypatch.undo()
    result, *_ = run_window(config, tmp_path, log_dir, start="2026-11-20T00:00:00Z")
    assert result.rows == 120 and json.loads((out / "window" / WINDOW_SUMMARY).read_text())["rows"] == 120


def test_component_compiles(tmp_path):
    from kfp import compiler

    from components.request_window.component import request_window

    compiler.Compiler().compile(request_window, str(tmp_path / "c.yaml"))
    assert "request_log" in (tmp_path / "c.yaml").read_text()
