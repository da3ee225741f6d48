"""RetrainTrigger: a "retrain" decision starts one training run per cooldown and records why;
runs started through the real clients (kfp.Client, google-cloud-aiplatform over REST) against
the local API stand-in."""

from __future__ import annotations

import json

import pytest
from google.auth.credentials import AnonymousCredentials

from components.retrain_trigger.executor import (
    Inputs,
    Outputs,
    TriggerError,
    decision_file,
    read_triggers,
    run,
)
from tests.conftest import taxi_config
from tests.fake_apis import FakeApis

REASONS = ["drift: fare JSD 0.21 > 0.06 (10,000 rows)", "prediction mean shift 0.12"]


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, str]:
    """The training pipeline compiled for kfp and vertex, once for this module."""
    from pipelines.compile import compile_all

    tmp = tmp_path_factory.mktemp("compiled")
    return {p.name.split(".")[-2]: str(p) for p in compile_all(taxi_config(tmp), tmp)}


def trigger(tmp_path, config, decision="retrain", now="2026-11-23T03:00:00+00:00", **kwargs):
    path = decision_file(str(tmp_path / "decision" / "decision.json"), decision, REASONS)
    registry = kwargs.pop("model_registry", str(tmp_path / "registry"))
    out = tmp_path / f"result-{now[:13]}-{decision}"
    inputs = Inputs(decision=path, model_registry=registry, now=now, params={"epochs": 3}, **kwargs)
    return run(config, inputs, Outputs(result=str(out))), out


def test_a_retrain_decision_starts_one_run_per_cooldown(tmp_path):
    config = taxi_config(tmp_path)
    first, out = trigger(tmp_path, config)
    assert first.triggered and first.reason == f"retrain started: {'; '.join(REASONS)}"
    assert first.run["params"] == {"epochs": 3, "run_reason": f"monitor: {'; '.join(REASONS)}"}
    assert json.loads((out / "retrain.json").read_text())["triggered"] is True
    # A noisy signal: the next windows decide "retrain" again within the cooldown.
    again, _ = trigger(tmp_path, config, now="2026-11-23T09:00:00+00:00")
    assert not again.triggered
    assert again.reason.startswith("cooldown: a retrain was started at 2026-11-23T03:00:00+00:00 (drift: fare")
    assert "the next may start after 2026-11-24T03:00:00+00:00" in again.reason
    later, _ = trigger(tmp_path, config, now="2026-11-24T03:00:01+00:00")
    assert later.triggered
    log = read_triggers(str(tmp_path / "registry"), config.model_name)
    assert [t["at"] for t in log] == ["2026-11-23T03:00:00+00:00", "2026-11-24T03:00:01+00:00"]


def test_no_retrain_decision_starts_nothing_and_records_nothing(tmp_path):
    config = taxi_config(tmp_path)
    result, out = trigger(tmp_path, config, decision="ok")
    assert not result.triggered and result.reason.startswith("no retrain: the monitor decided 'ok'")
    assert read_triggers(str(tmp_path / "registry"), config.model_name) == []
    assert json.loads((out / "retrain.json").read_text())["reason"] == result.reason


def test_kfp_run_carries_the_reason(tmp_path, monkeypatch, packages):
    config, package = taxi_config(tmp_path), packages["kfp"]
    monkeypatch.setenv("KFP_API_TOKEN", "token")
    with FakeApis() as fake:
        result, _ = trigger(tmp_path, config, target="kfp", package=package, kfp_host=fake.url)
        [created] = fake.find("POST", "/apis/v2beta1/runs")
    body = created.json()
    assert body["display_name"] == f"{config.pipeline_name}-retrain-20261123-030000"
    assert body["runtime_config"]["parameters"]["run_reason"] == f"monitor: {'; '.join(REASONS)}"
    assert body["runtime_config"]["parameters"]["epochs"] == 3
    assert result.run == {"target": "kfp", "run_id": "run-1", "run_name": body["display_name"]}


def test_vertex_run_carries_the_reason(tmp_path, monkeypatch, packages):
    from google.cloud import aiplatform
    from google.cloud.aiplatform.utils import resource_manager_utils

    config, package = taxi_config(tmp_path), packages["vertex"]
    with FakeApis() as fake:
        # aiplatform checks the pipeline root's bucket (Cloud Storage) and its owner project
        # (Resource Manager) before submitting: GCP services that cannot run here.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake.url)
        monkeypatch.setattr(resource_manager_utils, "get_project_number", lambda *a, **k: "123456789")
        aiplatform.init(
            project="p",
            location="us-central1",
            credentials=AnonymousCredentials(),
            api_endpoint=fake.url,
            api_transport="rest",
        )
        result, _ = trigger(
            tmp_path,
            config,
            target="vertex",
            package=package,
            vertex_project="p",
            pipeline_root="gs://b/root",
            service_account="tabml-pipelines@p.iam.gserviceaccount.com",
        )
        [created] = fake.find("POST", r".*/pipelineJobs")
    job = created.json()
    assert job["runtimeConfig"]["parameterValues"]["run_reason"] == f"monitor: {'; '.join(REASONS)}"
    assert job["serviceAccount"] == "tabml-pipelines@p.iam.gserviceaccount.com"
    assert job["labels"]["trigger"] == "monitor"
    assert result.triggered and result.run["target"] == "vertex"


def test_a_trigger_that_cannot_start_says_what_to_set_and_records_nothing(tmp_path):
    config = taxi_config(tmp_path)
    with pytest.raises(TriggerError, match="target kfp needs package"):
        trigger(tmp_path, config, target="kfp")
    with pytest.raises(TriggerError, match="target must be one of record, local, kfp, vertex"):
        trigger(tmp_path, config, target="argo")
    with pytest.raises(TriggerError, match="needs kfp_host"):
        trigger(tmp_path, config, target="kfp", package="compiled/x.yaml")
    assert read_triggers(str(tmp_path / "registry"), config.model_name) == []


def test_the_windows_labelled_rows_are_the_runs_extra_data(monkeypatch, tmp_path):
    """A real window (RequestWindow on a request log and a labels file): its labelled.csv is the
    run's extra_data, at the window's URI where the run reads it; explicit params win."""
    from tests.test_request_window import run_window, taxi_log
    from tests.test_retrain_data import labelled_window

    config, window, _ = labelled_window(monkeypatch, tmp_path / "w")
    decision = decision_file(str(tmp_path / "decision.json"), "retrain", REASONS)

    def start(out: str, **inputs):
        inputs = {"params": {"epochs": 3}, **inputs}
        result = run(
            config,
            Inputs(decision=decision, model_registry=str(tmp_path / "registry"), cooldown_hours=0, **inputs),
            Outputs(result=str(tmp_path / out)),
        )
        return result, result.run.get("params", {})

    result, params = start("here", window=str(window))
    assert params == {
        "extra_data": str(window / "labelled.csv"),
        "epochs": 3,
        "run_reason": f"monitor: {'; '.join(REASONS)}",
    }
    assert result.labelled_rows == 30 and result.run["target"] == "record"
    # On a cluster the step reads the window at /gcs/...; the run's pods read gs://.
    uri = "gs://bucket/root/run-1/request-window/window"
    result, params = start("cluster", window=str(window), window_uri=uri, target="local")
    assert params["extra_data"] == f"{uri}/labelled.csv" and result.run["target"] == "local"
    _, params = start("explicit", window=str(window), params={"extra_data": "", "epochs": 3})
    assert params["extra_data"] == ""  # retrain_params win: the data alone
    # A window without labels: no extra data.
    config, log_dir, *_ = taxi_log(monkeypatch, tmp_path / "n")
    run_window(config, tmp_path / "n", log_dir)
    result, params = start("unlabelled", window=str(tmp_path / "n" / "out" / "window"))
    assert "extra_data" not in params and result.labelled_rows == 0 and result.triggered
