"""The canary analysis as a step of the training pipeline (configs with push.kserve): the DAG kfp
compiles (Pusher -> dsl.If window set -> dsl.If canary pushed -> CanaryWindow -> CanaryAnalysis),
the wait before the window is read, and the three steps' KFP functions run in-process: the
Pusher rolls a new version out as a canary on the local stand-in for the Kubernetes API
(tests/serving/fake_k8s.py), both versions' requests are logged by the predictor's own writer
while RequestWindow waits, and CanaryAnalysis promotes or rolls back through the rollout code."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from kfp.dsl import Artifact, Dataset, Metrics, Model

from components.canary_analysis.component import canary_analysis
from components.canary_analysis.executor import ANALYSIS_JSON, ANALYSIS_MD, PROMOTE, ROLLBACK
from components.pusher.canary_component import pusher as canary_pusher
from components.request_window import wait
from components.request_window.component import request_window
from components.request_window.wait import wait_for_window
from contracts.registry import version_dir
from pipelines.compile import compile_pipeline
from pipelines.training_pipeline import CANARY_PARAMETERS, build_pipeline, run_caching
from rollout.isvc import ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION, STORAGE_ENV
from tests.conftest import taxi_config
from tests.serving.fake_k8s import FakeKubernetes
from tests.test_canary_analysis import scores, serve, served  # noqa: F401 (served: a fixture)
from tests.test_kserve_push import blessing, knative, revision_status

NS, NAME = "ml-prod", "taxi-canary"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{NAME}"
TRAINING_TASKS = {
    "example-gen",
    "statistics-gen",
    "schema-gen",
    "example-validator",
    "transform",
    "trainer",
    "evaluator",
    "pusher",
}


def kserve_config(tmp_path, **kserve):
    target = {"namespace": NS, "name": NAME, "canary_percent": 20} | kserve
    return taxi_config(tmp_path, push={"registry": str(tmp_path / "registry"), "kserve": target})


def compiled(config, tmp_path, target: str) -> dict:
    path = compile_pipeline(config, tmp_path / target, target)
    spec = {}
    for doc in yaml.safe_load_all(path.read_text()):
        spec.update(doc)
    return spec


# ------------------------------------------------------------------------------------ the DAG


@pytest.mark.parametrize("target", ["kfp", "vertex"])
def test_compiled_dag_runs_the_analysis_after_a_canary_push(tmp_path, target):
    config = kserve_config(tmp_path)
    config = config.model_copy(update={"resources": config.resources.model_copy(update={"retries": 2})})
    spec = compiled(config, tmp_path, target)
    root, components = spec["root"], spec["components"]
    tasks = root["dag"]["tasks"]
    assert set(tasks) == TRAINING_TASKS | {"condition-1"}
    # Outer condition: the run asked for a window; evaluated once the Pusher is done.
    window_set = tasks["condition-1"]
    assert window_set["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--canary_window_minutes'] > double(0)"
    )
    assert window_set["dependentTasks"] == ["pusher"] and window_set["taskInfo"]["name"] == "canary-window-set"
    # Inner condition: the Pusher says it started a canary.
    [pushed] = components["comp-condition-1"]["dag"]["tasks"].values()
    assert pushed["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--pusher-canary_version'] != ''"
    )
    assert components["comp-pusher"]["outputDefinitions"]["parameters"] == {
        "canary_version": {"parameterType": "STRING"}
    }
    inner = components["comp-condition-2"]["dag"]["tasks"]
    assert set(inner) == {"request-window", "canary-analysis"}
    window, analysis = inner["request-window"], inner["canary-analysis"]
    assert window["taskInfo"]["name"] == "CanaryWindow" and analysis["taskInfo"]["name"] == "CanaryAnalysis"
    params = {k: v["componentInputParameter"] for k, v in window["inputs"]["parameters"].items()}
    assert params == {
        "config": "pipelinechannel--pipeline_config",
        "request_log": "pipelinechannel--canary_request_log",
        "model_registry": "pipelinechannel--model_registry",
        "wait_minutes": "pipelinechannel--canary_window_minutes",
        "log_delay_minutes": "pipelinechannel--canary_log_delay_minutes",
    }
    assert analysis["dependentTasks"] == ["request-window"]
    assert analysis["inputs"]["artifacts"]["window"]["taskOutputArtifact"] == {
        "outputArtifactKey": "window",
        "producerTask": "request-window",
    }
    params = {k: v["componentInputParameter"] for k, v in analysis["inputs"]["parameters"].items()}
    assert params == {
        "config": "pipelinechannel--pipeline_config",
        "canary_version": "pipelinechannel--pusher-canary_version",
        "act": "pipelinechannel--canary_act",
    }
    # Never cached (the log grows) nor retried (a retry would wait the window again); the Trainer is.
    for task in (window, analysis):
        assert task["cachingOptions"] == {} and "retryPolicy" not in task
    assert tasks["trainer"]["retryPolicy"]["maxRetryCount"] == 2
    # Images and resources as every CPU step's.
    execs = spec["deploymentSpec"]["executors"]
    trainer_image = execs[components["comp-example-gen"]["executorLabel"]]["container"]["image"]
    for comp in ("comp-request-window", "comp-canary-analysis"):
        container = execs[components[comp]["executorLabel"]]["container"]
        assert container["image"] == trainer_image
        assert container["resources"]["resourceMemoryLimit"] == config.resources.default.memory
    assert "metrics" in components["comp-canary-analysis"]["outputDefinitions"]["artifacts"]
    # The run's parameters, with their descriptions for the KFP UI.
    defined = root["inputDefinitions"]["parameters"]
    assert {name: defined[name]["defaultValue"] for name in CANARY_PARAMETERS} == {
        "canary_request_log": "",
        "canary_window_minutes": 0.0,
        "canary_log_delay_minutes": 0.0,
        "canary_act": True,
    }
    assert "Cloud Logging's export" in defined["canary_request_log"]["description"]
    assert "tabml canary --baseline" in defined["canary_window_minutes"]["description"]
    assert "hourly files" in defined["canary_log_delay_minutes"]["description"]
    assert "record the decision only" in defined["canary_act"]["description"]
    # A run with caching on still caches neither the dsl.If group nor the steps inside it.
    cached = run_caching(spec, enabled=True)
    assert cached["root"]["dag"]["tasks"]["condition-1"]["cachingOptions"] == {}
    assert cached["root"]["dag"]["tasks"]["transform"]["cachingOptions"] == {"enableCache": True}
    assert cached["components"]["comp-condition-2"]["dag"]["tasks"]["canary-analysis"]["cachingOptions"] == {}


def test_without_kserve_or_locally_there_is_no_canary_step(tmp_path):
    plain = compiled(taxi_config(tmp_path), tmp_path, "kfp")
    assert set(plain["root"]["dag"]["tasks"]) == TRAINING_TASKS
    assert not [p for p in plain["root"]["inputDefinitions"]["parameters"] if p.startswith("canary")]
    assert "parameters" not in plain["components"]["comp-pusher"]["outputDefinitions"]  # the plain Pusher
    # kfp.local has no dsl.If: a local run analyses a canary with `tabml canary`.
    local = build_pipeline(kserve_config(tmp_path), target="local")
    assert set(local.pipeline_spec.root.dag.tasks) == TRAINING_TASKS
    assert not [p for p in local.component_spec.inputs if p.startswith("canary")]


# ------------------------------------------------------------------------------------ the wait


def test_no_wait_returns_at_once():
    def no_sleep(_):
        raise AssertionError("slept")

    assert wait_for_window(0, sleep=no_sleep) == ("", "")
    with pytest.raises(ValueError, match="give minutes >= 0"):
        wait_for_window(-1)


def test_a_short_wait_is_the_window():
    began = time.monotonic()
    start, end = wait_for_window(0.01)
    assert time.monotonic() - began >= 0.6
    start_t, end_t = (dt.datetime.fromisoformat(t) for t in (start, end))
    assert end_t - start_t == dt.timedelta(seconds=0.6) and start.endswith("Z")


def test_progress_is_logged_once_a_minute(caplog):
    clock = {"t": 0.0}
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock["t"] += seconds

    with caplog.at_level("INFO", logger="tabml"):
        start, end = wait_for_window(2.0, 0.5, sleep=sleep, clock=lambda: clock["t"])
    assert slept == [wait.PROGRESS_EVERY_S, wait.PROGRESS_EVERY_S, 30.0]  # 2.5 minutes in all
    progress = [r.getMessage() for r in caplog.records if "waited" in r.getMessage()]
    assert progress == ["RequestWindow: waited 1.0 of 2.5 min", "RequestWindow: waited 2.0 of 2.5 min"] + [
        "RequestWindow: waited 2.5 of 2.5 min"
    ]
    # The window is the 2 minutes; the half minute after is for the log to land.
    assert dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start) == dt.timedelta(minutes=2)


def test_the_window_step_refuses_a_wait_with_no_log_before_waiting(tmp_path):
    config = kserve_config(tmp_path)
    began = time.monotonic()
    with pytest.raises(ValueError, match="request_log is empty"):
        request_window.python_func(
            config=config.to_json(),
            request_log="",
            window=Dataset(name="window", uri=str(tmp_path / "window")),
            statistics=Artifact(name="statistics", uri=str(tmp_path / "statistics")),
            wait_minutes=30.0,
        )
    assert time.monotonic() - began < 5


# ------------------------------------------------------------------------------------ end to end


def fake_model(root: Path, content: bytes) -> Path:
    """A model artifact as the Trainer lays it out; the Pusher copies it without loading it."""
    (root / "Format-Serving").mkdir(parents=True)
    (root / "Format-Serving" / "saved_model.pb").write_bytes(content)
    return root


def pusher_step(config, tmp_path: Path, name: str, content: bytes, blessed: bool = True):
    schema = tmp_path / f"{name}-schema"
    schema.mkdir()
    shutil.copy(config.validation.schema_path, schema / "schema.pbtxt")
    (tmp_path / f"{name}-stats").mkdir()
    pushed = Artifact(name="pushed_model", uri=str(tmp_path / f"{name}-pushed"))
    out = canary_pusher.python_func(
        config=config.to_json(),
        model_registry="",
        git_commit="abc",
        run_reason="",
        model=Model(name="model", uri=str(fake_model(tmp_path / f"{name}-model", content))),
        blessing=Artifact(name="blessing", uri=str(blessing(tmp_path / name, blessed))),
        schema=Artifact(name="schema", uri=str(schema)),
        statistics=Artifact(name="statistics", uri=str(tmp_path / f"{name}-stats")),
        pushed_model=pushed,
    )
    return out[0], pushed


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeKubernetes() as fake:
        monkeypatch.setenv("KUBECONFIG", fake.kubeconfig(tmp_path / "kubeconfig"))
        for name in ("KUBERNETES_SERVICE_HOST", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID"):
            monkeypatch.delenv(name, raising=False)
        yield fake


def serving(fake, storage_uri: str, version: str, mode: str) -> None:
    """The InferenceService serving the stable version, in a KServe deployment mode."""
    container = {"name": "kserve-container", "image": "i", "env": [{"name": STORAGE_ENV, "value": storage_uri}]}
    annotations = {ANNOTATION_VERSION: version, "serving.kserve.io/deploymentMode": mode}
    status = revision_status(1, 1) if mode == "Serverless" else {"deploymentMode": mode}
    fake.put_object(
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": NAME, "namespace": NS, "annotations": annotations},
            "spec": {"predictor": {"containers": [container]}},
            "status": status,
        }
    )
    fake.controller = knative(fails=False)


def patches(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.method == "PATCH" and r.path == PATH]


@pytest.mark.parametrize("decision", [PROMOTE, ROLLBACK])
def test_push_wait_analyse_and_act(served, tmp_path, cluster, decision):  # noqa: F811
    """Pusher (canary 20%) -> CanaryWindow (waits, then reads the requests served meanwhile) ->
    CanaryAnalysis(act) against the stand-in cluster."""
    _, instances = served
    config = kserve_config(tmp_path)
    # The stable version: pushed by an earlier run (here without push.kserve), serving everything.
    stable_version, _ = pusher_step(
        config.model_copy(update={"push": config.push.model_copy(update={"kserve": None})}),
        tmp_path,
        "stable",
        b"stable",
    )
    assert stable_version == ""  # no push.kserve: pushed, but no canary
    [stable_dir] = [p for p in (tmp_path / "registry" / config.model_name).iterdir() if p.name.isdigit()]
    stable_uri = version_dir(str(tmp_path / "registry"), config.model_name, int(stable_dir.name))
    serving(cluster, stable_uri, stable_dir.name, "Serverless")

    canary_version, pushed = pusher_step(config, tmp_path, "canary", b"canary")
    assert canary_version and int(canary_version) > int(stable_dir.name)
    assert pushed.metadata["canary_version"] == canary_version
    [deploy] = patches(cluster)
    assert deploy["spec"]["predictor"]["canaryTrafficPercent"] == 20

    # Both revisions serve during the window and log their own version.
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    logs = tmp_path / "logs"
    serve(logs / "stable.jsonl", stable_dir.name, instances[:500], scores(1, 500), start=soon, every_s=0.002)
    canary_scores = scores(2, 250) if decision == PROMOTE else scores(2, 250, a=5.0, b=2.0)
    serve(logs / "canary.jsonl", canary_version, instances[500:750], canary_scores, start=soon, every_s=0.004)
    window = Dataset(name="window", uri=str(tmp_path / "window"))
    began = time.monotonic()
    request_window.python_func(
        config=config.to_json(),
        request_log=str(logs),
        window=window,
        statistics=Artifact(name="statistics", uri=str(tmp_path / "window_statistics")),
        model_registry=str(tmp_path / "registry"),
        wait_minutes=0.1,
    )
    assert time.monotonic() - began >= 6
    assert window.metadata["rows"] == 750
    assert window.metadata["model_versions"] == {stable_dir.name: 500, canary_version: 250}

    analysis = Artifact(name="analysis", uri=str(tmp_path / "analysis"))
    metrics = Metrics(name="metrics", uri=str(tmp_path / "metrics"))
    canary_analysis.python_func(
        config=config.to_json(),
        window=window,
        analysis=analysis,
        metrics=metrics,
        canary_version=canary_version,
        act=True,
    )
    saved = json.loads((tmp_path / "analysis" / ANALYSIS_JSON).read_text())
    assert saved["decision"] == decision == analysis.metadata["decision"]
    assert (saved["canary_version"], saved["stable_version"]) == (canary_version, stable_dir.name)
    assert (tmp_path / "analysis" / ANALYSIS_MD).read_text().startswith(f"# Canary analysis: {decision}")
    assert metrics.metadata["canary_requests"] == 250 and metrics.metadata["stable_requests"] == 500
    distance = metrics.metadata["predictions.distance"]
    assert (distance > metrics.metadata["predictions.threshold"]) == (decision == ROLLBACK)
    live = cluster.objects[(NS, NAME)]
    if decision == PROMOTE:
        assert analysis.metadata["action"] == "promoted"
        assert patches(cluster)[1:] == [saved["rollout"]["patches"][0]]
        assert live["spec"]["predictor"]["canaryTrafficPercent"] == 100
    else:
        assert analysis.metadata["action"] == "restored"
        assert live["spec"]["predictor"]["containers"][0]["env"] == [{"name": STORAGE_ENV, "value": stable_uri}]
        assert "canaryTrafficPercent" not in live["spec"]["predictor"]
        assert ANNOTATION_PREVIOUS_URI not in live["metadata"]["annotations"]


def test_a_model_not_blessed_or_a_0_percent_canary_is_not_analysed(tmp_path, cluster):
    config = kserve_config(tmp_path)
    serving(cluster, version_dir("gs://models/registry", config.model_name, 1700000000), "1700000000", "Serverless")
    not_blessed, pushed = pusher_step(config, tmp_path, "bad", b"bad", blessed=False)
    assert not_blessed == "" and pushed.metadata["pushed"] == 0 and patches(cluster) == []
    # A 0% canary serves no request to judge.
    silent, pushed = pusher_step(kserve_config(tmp_path, canary_percent=0), tmp_path, "silent", b"silent")
    assert silent == "" and pushed.metadata["pushed"] == 1
    [deploy] = patches(cluster)
    assert deploy["spec"]["predictor"]["canaryTrafficPercent"] == 0
