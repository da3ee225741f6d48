"""The loop's KServe stand-in: the Pusher's rollout library against the Kubernetes API stand-in
with a Serverless controller, real predictor processes (serving/.venv) per served version, and
requests routed by canaryTrafficPercent; the request log then holds both versions."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.local_serving import SERVER, LocalKServe, serverless_template
from rollout import IsvcRollout, custom_objects_api, storage_uri_of

FIXTURE = Path("tests/serving/fixtures/chicago_taxi")
MODEL = "chicago_taxi_big_tipper"

pytestmark = pytest.mark.skipif(not SERVER.exists(), reason="needs serving/.venv (make setup-serving)")


@pytest.fixture
def registry(tmp_path) -> tuple[str, str]:
    """Two versions of the fixture model (the same SavedModel under two version numbers)."""
    source = next((FIXTURE / "model").iterdir())
    versions = []
    for version in ("1000", "2000"):
        target = tmp_path / "registry" / MODEL / version
        shutil.copytree(source, target)
        metadata = json.loads((target / "model_metadata.json").read_text())
        (target / "model_metadata.json").write_text(json.dumps(metadata | {"version": int(version)}))
        versions.append(str(target))
    return versions[0], versions[1]


def test_the_template_is_the_projects_manifest_in_serverless_mode(tmp_path):
    isvc = yaml.safe_load(serverless_template(tmp_path / "isvc.yaml").read_text())
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert isvc["spec"]["predictor"]["containers"][0]["name"] == "kserve-container"


def test_canary_traffic_is_split_and_logged_per_version(tmp_path, registry):
    v1, v2 = registry
    rows = pd.DataFrame(json.loads((FIXTURE / "rows.json").read_text())["instances"])
    rows["label"] = 1
    template = yaml.safe_load(serverless_template(tmp_path / "isvc.yaml").read_text())
    with LocalKServe(tmp_path, "ns", "taxi", MODEL) as serving:
        rollout = IsvcRollout(custom_objects_api(serving.kubeconfig), "ns", "taxi", poll_s=0.05)
        first = rollout.deploy(v1, 30, model_version="1000", template=template, ready_timeout_s=5)
        assert first.action == "created" and serving.traffic() == [(v1, 100)]
        canary = rollout.deploy(v2, 30, model_version="2000", ready_timeout_s=5)
        # The stand-in's controller made a new Knative revision, ready: the rollout waited for it.
        assert canary.action == "canary" and canary.ready.endswith("is ready")
        assert serving.traffic() == [(v2, 30), (v1, 70)]

        replayed = serving.replay(pd.concat([rows] * 4, ignore_index=True), "label", seed=3)
        assert replayed.requests == 256 and replayed.failed == 0
        assert 40 <= replayed.by_storage_uri[v2] <= 115  # 30% of 256 = 77, binomial sd 7
        assert replayed.by_storage_uri[v1] == 256 - replayed.by_storage_uri[v2]
        # The predictors' log writers batch their writes (up to ~20 ms behind the answers).
        deadline = time.monotonic() + 10
        while True:
            logged = pd.concat(pd.read_json(f, lines=True, dtype=False) for f in serving.request_log.glob("*.jsonl"))
            if len(logged) >= replayed.requests or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        served = logged.groupby("model_version").size().to_dict()
        assert served == {"1000": replayed.by_storage_uri[v1], "2000": replayed.by_storage_uri[v2]}
        assert {label["request_id"] for label in replayed.labels} == set(logged["request_id"])

        rollout.rollback(restore=True)
        assert storage_uri_of(serving.isvc()) == v1 and serving.traffic() == [(v1, 100)]
    for predictor in serving.predictors.values():
        assert predictor.process.poll() is not None  # stopped on exit
