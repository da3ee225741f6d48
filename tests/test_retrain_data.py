"""Retraining on the data plus the newly labelled window: RequestWindow's labelled.csv (from a
real request log and labels file), ExampleGen appending it to the configured data with the
label as given (a derived label is not derived again), and a retrain the trigger recorded with
target "local" started by the pipelines layer under kfp.local."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.example_gen import executor as example_gen
from components.example_gen.fingerprint import data_fingerprint
from components.retrain_trigger import executor as trigger
from contracts.monitoring import LABELLED_CSV, WINDOW_COLUMNS
from pipelines.retrain import RetrainError, start_local_retrain, typed_params
from tests.conftest import REPO, example_config, read_taxi
from tests.test_example_gen import read_examples, value
from tests.test_request_window import run_window, served_instances, taxi_log, write_log

PICKED = range(60, 120, 2)  # requests in the default window (12:00 to 24:00 of day one), half labelled


def derived(frame: pd.DataFrame) -> np.ndarray:
    """big_tipper as the taxi config derives it: tips > 0.2 * fare, a zero/missing fare negative."""
    tips = pd.to_numeric(frame["tips"].replace("", None)).fillna(0).to_numpy()
    fare = pd.to_numeric(frame["fare"].replace("", None)).fillna(0).to_numpy()
    return ((fare > 0) & (tips > 0.2 * fare)).astype(int)


def labelled_window(monkeypatch, tmp_path: Path):
    """A real taxi window whose labels are the opposite of what the config would derive: a
    label taken as given must keep them. Returns (config, window dir, given labels by row)."""
    config, log_dir, _, _, ids = taxi_log(monkeypatch, tmp_path)
    given = 1 - derived(read_taxi(240))
    labels = pd.DataFrame({"request_id": [ids[i] for i in PICKED], "big_tipper": [given[i] for i in PICKED]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    run_window(config, tmp_path, log_dir, labels=str(tmp_path / "labels.csv"))
    return config, tmp_path / "out" / "window", given


def test_labelled_csv_holds_the_labelled_rows_as_training_data(monkeypatch, tmp_path):
    config, window, given = labelled_window(monkeypatch, tmp_path)
    labelled = pd.read_csv(window / LABELLED_CSV, dtype=str, keep_default_na=False)
    assert list(labelled.columns) == [*config.feature_names, "big_tipper"]  # nothing served-side
    assert not set(WINDOW_COLUMNS) & set(labelled.columns)
    summary = json.loads((window / "window.json").read_text())
    assert len(labelled) == summary["labelled_rows"] == len(PICKED) == 30
    assert labelled["big_tipper"].tolist() == [str(given[i]) for i in PICKED]  # as the labels file gave it
    rows = read_taxi(240).iloc[list(PICKED)]
    assert labelled["company"].tolist() == rows["company"].tolist()
    fares = pd.to_numeric(rows["fare"].replace("", None))
    assert np.allclose(labelled["fare"].astype(float), fares.fillna(0))  # the predictor filled missing fares with 0

    # No labels file: a header only, and no labelled rows.
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path / "none")
    result, *_ = run_window(config, tmp_path / "none", log_dir)
    empty = pd.read_csv(tmp_path / "none" / "out" / "window" / LABELLED_CSV)
    assert result.labelled_rows == 0 and empty.empty and list(empty.columns) == [*config.feature_names, "big_tipper"]


def _gen(config, out: Path, source: Path, extra: str = "", fingerprint: str = "") -> example_gen.Result:
    inputs = example_gen.Inputs(data_source=str(source), extra_data=extra, data_fingerprint=fingerprint)
    return example_gen.run(config, inputs, example_gen.Outputs(examples=str(out)))


def test_example_gen_appends_extra_data_with_the_label_as_given(monkeypatch, tmp_path):
    config, window, given = labelled_window(monkeypatch, tmp_path)
    extra = str(window / LABELLED_CSV)
    data = tmp_path / "data.csv"
    rows = read_taxi(1000).iloc[240:]  # other rows than the window's
    assert (rows["trip_start_timestamp"] != "").all()  # not a feature: extra rows lack it
    rows.to_csv(data, index=False)
    base = _gen(config, tmp_path / "base", data)
    both = _gen(config, tmp_path / "both", data, extra)

    assert both.extra_rows_read == 30 and both.rows_read == base.rows_read + 30
    assert sum(both.extra_split_counts.values()) == 30 and all(both.extra_split_counts.values())
    assert both.split_counts == {s: n + both.extra_split_counts[s] for s, n in base.split_counts.items()}
    assert both.column_types == base.column_types and both.extra_files == [extra]
    summary = json.loads((tmp_path / "both" / "example_gen_summary.json").read_text())
    assert summary["extra_split_counts"] == both.extra_split_counts

    # The extra rows' labels are the given ones (the opposite of the derivation), not derived.
    found = Counter()
    for split in ("train", "eval"):
        for ex in read_examples(tmp_path / "both", split):
            if value(ex, "trip_start_timestamp") is None:
                found[(value(ex, "company"), round(value(ex, "fare"), 2), value(ex, "big_tipper"))] += 1
    labelled = pd.read_csv(extra, dtype=str, keep_default_na=False)
    want = Counter(
        (c.encode() if c else None, round(float(f), 2), int(b))  # an empty company: absent, as in the data
        for c, f, b in zip(labelled.company, labelled.fare, labelled.big_tipper, strict=True)
    )
    assert found == want and sum(found.values()) == 30
    assert any(given[i] != d for i, d in zip(PICKED, derived(read_taxi(240).iloc[list(PICKED)]), strict=True))

    # The same hash split: the same rows again give the same splits.
    again = _gen(config, tmp_path / "again", data, extra)
    assert again.extra_split_counts == both.extra_split_counts

    # The fingerprint covers the extra files; without them it is the data's as before.
    assert base.data_fingerprint == data_fingerprint(str(data))
    assert both.data_fingerprint == data_fingerprint(str(data), extra) != base.data_fingerprint
    with open(extra, "a") as f:
        f.write(labelled.iloc[[0]].to_csv(index=False, header=False))
    with pytest.raises(example_gen.InputDataError, match=r"labelled.csv\) changed after the run was started"):
        _gen(config, tmp_path / "changed", data, extra, fingerprint=both.data_fingerprint)


def test_bad_extra_data_is_named(monkeypatch, tmp_path):
    config, window, _ = labelled_window(monkeypatch, tmp_path)
    labelled = pd.read_csv(window / LABELLED_CSV, dtype=str, keep_default_na=False)
    data = tmp_path / "data.csv"
    read_taxi(400).to_csv(data, index=False)

    def fails(name: str, frame: pd.DataFrame, match: str):
        path = tmp_path / name
        frame.to_csv(path, index=False)
        with pytest.raises(example_gen.InputDataError, match=match):
            _gen(config, tmp_path / f"out-{name}", data, str(path))
        return str(path)

    fails(
        "nolabel.csv",
        labelled.drop(columns="big_tipper"),
        r"extra data .*nolabel.csv: no label column 'big_tipper' \(label.name\) \(a derived label: extra data "
        r"gives it as 0/1, not its label.ratio columns\)",
    )
    fails("nofare.csv", labelled.drop(columns="fare"), r"nofare.csv: feature column\(s\) \['fare'\] of the config")
    two = labelled.copy()
    two.loc[4, "big_tipper"] = "2"
    fails("two.csv", two, r"two.csv: label column 'big_tipper' holds '2' \(data row 5\); a derived label")
    text = labelled.copy()
    text.loc[2, "big_tipper"] = "yes"
    fails("text.csv", text, r"text.csv: label column 'big_tipper' holds non-numeric value 'yes' \(data row 3\)")
    with pytest.raises(FileNotFoundError, match="matched no files"):
        _gen(config, tmp_path / "none", data, str(tmp_path / "absent.csv"))


def test_a_local_retrain_needs_a_triggered_local_run_and_the_pipelines_parameters(tmp_path):
    config = example_config("penguins", tmp_path)
    assert start_local_retrain(config, {"triggered": False, "reason": "cooldown"}, tmp_path) is None
    with pytest.raises(RetrainError, match="target 'record': only a 'local' one is started on this machine"):
        start_local_retrain(config, {"triggered": True, "run": {"target": "record", "params": {}}}, tmp_path)
    with pytest.raises(RetrainError, match=r"no retrain trigger result \(retrain.json\)"):
        start_local_retrain(config, tmp_path, tmp_path)
    typed = typed_params(config, {"epochs": "2", "value_thresholds": '{"Accuracy": {"lower_bound": 0.5}}'})
    assert typed == {"epochs": 2, "value_thresholds": {"Accuracy": {"lower_bound": 0.5}}}
    with pytest.raises(RetrainError, match="--param epochs='two': expected a NUMBER_INTEGER value"):
        typed_params(config, {"epochs": "two"})
    with pytest.raises(RetrainError, match="the pipeline has no such parameter"):
        typed_params(config, {"learning_rate": "0.1"})


@pytest.mark.pipeline
def test_a_local_retrain_trains_on_the_data_plus_the_labelled_window(monkeypatch, tmp_path):
    """Penguins (multiclass, class names as labels): a real window with 20 labelled rows, the
    trigger's "local" record of it, and the training pipeline started from that record."""
    config = example_config(
        "penguins",
        tmp_path,
        evaluation={"value_thresholds": {"Accuracy": {"lower_bound": 0.0}}, "fairness_gate": None},
        # The curated schema wants 'year' (not a feature, so never served) in every row.
        validation={"schema_path": ""},
    )
    frame = pd.read_csv(REPO / "examples/penguins/data/penguins.csv", dtype=str, keep_default_na=False)
    frame = frame[(frame != "NA").all(axis=1)].reset_index(drop=True)
    data, live = tmp_path / "data.csv", frame.tail(40)
    frame.iloc[:-40].to_csv(data, index=False)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    predictions = [{"class": classes[i % 3], "probabilities": {c: 1 / 3 for c in classes}} for i in range(40)]
    instances = served_instances(example_config("penguins", tmp_path), live)  # typed by the curated schema
    ids = write_log(monkeypatch, tmp_path / "logs", instances, predictions)
    labels = [{"request_id": ids[i], "species": live["species"].iloc[i]} for i in range(0, 40, 2)]
    (tmp_path / "species.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    start, end = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
    run_window(config, tmp_path, tmp_path / "logs", start=start, end=end, labels=str(tmp_path / "species.jsonl"))

    decision = trigger.decision_file(str(tmp_path / "decision.json"), "retrain", ["live quality: accuracy 0.33"])
    recorded = trigger.run(
        config,
        trigger.Inputs(
            decision=decision,
            model_registry=config.push.registry,
            window=str(tmp_path / "out" / "window"),
            target="local",
            params={"data_source": str(data), "epochs": "1"},  # as `tabml monitor -p` records them
        ),
        trigger.Outputs(result=str(tmp_path / "trigger")),
    )
    assert recorded.triggered and recorded.run["target"] == "local" and recorded.labelled_rows == 20

    run = start_local_retrain(config, tmp_path / "trigger", tmp_path / "runs")
    summary = json.loads((Path(run.artifacts["example-gen"]["examples"]) / "example_gen_summary.json").read_text())
    assert summary["extra_rows_read"] == 20 and summary["rows_read"] == len(frame) - 40 + 20
    assert sum(summary["split_counts"].values()) == len(frame) - 20
    assert summary["label"]["classes"] == classes  # class names as given, encoded like the data's
    assert run.push["pushed"], run.push
    metadata = json.loads((Path(run.push["destination"]) / "model_metadata.json").read_text())
    assert metadata["run_reason"] == "monitor: live quality: accuracy 0.33"
    assert metadata["data_source"] == str(data)
