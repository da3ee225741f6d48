"""The Pusher's KServe step and `promote` / `rollback`: the real Kubernetes client, with
credentials from a kube config, against a local server standing in for the Kubernetes API
(tests/serving/fake_k8s.py); assertions on the patch bodies and the resulting object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from components.evaluator.executor import Blessing, write_blessing
from contracts.config import load_config
from contracts.registry import version_dir
from pipelines.cli import app
from rollout.isvc import ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION, STORAGE_ENV, RolloutError
from tests.conftest import TAXI_CONFIG, push, taxi_config
from tests.serving.fake_k8s import FakeKubernetes

TAXI = load_config(TAXI_CONFIG)
NS, NAME = "ml-prod", f"{TAXI.pipeline_name}-raw"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{NAME}"
OLD_URI = version_dir("gs://models/registry", TAXI.model_name, 1700000000)
IMAGE = "us-docker.pkg.dev/p/tabml/tabml-serving:abc"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeKubernetes() as fake:
        monkeypatch.setenv("KUBECONFIG", fake.kubeconfig(tmp_path / "kubeconfig"))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        container = {"name": "kserve-container", "image": IMAGE, "env": [{"name": STORAGE_ENV, "value": OLD_URI}]}
        fake.put_object(
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {"predictor": {"containers": [container]}},
                "status": revision_status(1, 1),
            }
        )
        fake.controller = knative(fails=False)
        yield fake


def revision_status(created: int, ready: int, failed: dict | None = None) -> dict:
    """An InferenceService's status as KServe writes it in Serverless mode."""
    conditions = [{"type": "PredictorReady", "status": "True"}] + ([failed] if failed else [])
    predictor = {"latestCreatedRevision": f"{NAME}-{created}", "latestReadyRevision": f"{NAME}-{ready}"}
    return {"deploymentMode": "Serverless", "components": {"predictor": predictor}, "conditions": conditions}


def knative(fails: bool):
    """Stands in for KServe's controller: each spec change is a new revision, ready or failed."""
    revision = {"n": 1}

    def reconcile(obj):
        revision["n"] += 1
        n = revision["n"]
        failed = {"type": "PredictorConfigurationReady", "status": "False", "reason": "RevisionFailed"}
        obj["status"] = revision_status(n, n - 1, failed) if fails else revision_status(n, n)

    return reconcile


def kserve_config(tmp_path):
    return taxi_config(tmp_path, push={"kserve": {"namespace": NS, "name": NAME, "canary_percent": 20}})


def blessing(tmp_path, blessed: bool):
    """A blessing as the Evaluator writes it (the KServe step is what is under test here)."""
    auc = 0.9 if blessed else 0.5
    reasons = [] if blessed else [f"AUC = {auc} is outside [0.75, None]"]
    write_blessing(
        str(tmp_path / "blessing"),
        Blessing(blessed, "binary", {"name": TAXI.label.name}, [], {"auc": auc}, reasons=reasons),
    )
    return tmp_path / "blessing"


def patches(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.method == "PATCH" and r.path == PATH]


def test_push_rolls_the_new_version_out_as_a_canary(chain, cluster, tmp_path):
    config = kserve_config(tmp_path)
    result = push(chain, config, blessing(tmp_path, True), tmp_path / "pushed")
    assert result.pushed and result.kserve["action"] == "canary"
    assert result.destination == version_dir(config.push.registry, config.model_name, result.version)
    assert result.kserve["ready"] == f"revision {NAME}-2 is ready"  # waited for the canary
    [patch] = patches(cluster)
    assert patch["spec"]["predictor"]["canaryTrafficPercent"] == 20
    [container] = patch["spec"]["predictor"]["containers"]
    assert {"name": STORAGE_ENV, "value": result.destination} in container["env"]
    assert container["image"] == IMAGE  # the rest of the container is kept
    assert patch["metadata"]["annotations"][ANNOTATION_PREVIOUS_URI] == OLD_URI
    assert patch["metadata"]["annotations"][ANNOTATION_VERSION] == str(result.version)
    assert patch["metadata"]["resourceVersion"]  # a concurrent change answers 409, not a lost update
    saved = json.loads((tmp_path / "pushed" / "push_result.json").read_text())
    assert saved["kserve"]["storage_uri"] == result.destination


def test_not_blessed_touches_no_inference_service(chain, cluster, tmp_path):
    result = push(chain, kserve_config(tmp_path), blessing(tmp_path, False), tmp_path / "pushed")
    assert not result.pushed and result.kserve is None
    assert "not blessed: AUC = 0.5" in result.reason
    assert cluster.requests == []


def test_promote_and_rollback_commands(chain, cluster, tmp_path):
    config = kserve_config(tmp_path)
    pushed = push(chain, config, blessing(tmp_path, True), tmp_path / "pushed")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    runner = CliRunner()
    promoted = runner.invoke(app, ["promote", "--config", str(config_file)])
    assert promoted.exit_code == 0, promoted.output
    assert patches(cluster)[-1]["spec"]["predictor"] == {"canaryTrafficPercent": 100}
    rolled = runner.invoke(app, ["rollback", "--config", str(config_file), "--restore"])
    assert rolled.exit_code == 0, rolled.output
    assert "restored" in rolled.output and OLD_URI in "".join(rolled.output.split())
    restore = patches(cluster)[-1]
    assert {"name": STORAGE_ENV, "value": OLD_URI} in restore["spec"]["predictor"]["containers"][0]["env"]
    assert restore["spec"]["predictor"]["canaryTrafficPercent"] is None  # merge patch: removed
    live = cluster.objects[(NS, NAME)]
    assert {"name": STORAGE_ENV, "value": OLD_URI} in live["spec"]["predictor"]["containers"][0]["env"]
    assert ANNOTATION_PREVIOUS_URI not in live["metadata"].get("annotations", {})
    assert pushed.destination != OLD_URI


def test_promote_without_a_kserve_target_says_what_to_set(tmp_path):
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(taxi_config(tmp_path).model_dump(mode="json", exclude_none=True)))
    result = CliRunner().invoke(app, ["promote", "--config", str(config_file)])
    assert result.exit_code == 2 and "set push.kserve" in result.output


def test_rollback_without_cluster_credentials_is_an_error_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(kserve_config(tmp_path).model_dump(mode="json", exclude_none=True)))
    result = CliRunner().invoke(app, ["rollback", "--config", str(config_file)])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "error:" in result.output and "kube" in result.output.lower()


def test_a_canary_that_fails_fails_the_push_and_is_reverted(chain, cluster, tmp_path):
    cluster.controller = knative(fails=True)
    with pytest.raises(
        RolloutError, match=rf"PredictorConfigurationReady=False \(RevisionFailed\).*reverted to {OLD_URI}"
    ):
        push(chain, kserve_config(tmp_path), blessing(tmp_path, True), tmp_path / "pushed")
    live = cluster.objects[(NS, NAME)]
    assert {"name": STORAGE_ENV, "value": OLD_URI} in live["spec"]["predictor"]["containers"][0]["env"]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]


def test_kserve_push_without_cluster_credentials_says_what_to_use(chain, tmp_path, monkeypatch):
    """A Pusher on Vertex AI Pipelines: no in-cluster service account, no kube config."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    config = kserve_config(tmp_path)
    with pytest.raises(RolloutError, match="Vertex AI Pipelines runs outside any GKE cluster") as info:
        push(chain, config, blessing(tmp_path, True), tmp_path / "pushed")
    assert "push.vertex_endpoint" in str(info.value) and "Kubeflow Pipelines" in str(info.value)
    # Refused before the registry: nothing was pushed that no rollout will ever serve.
    assert not list(Path(config.push.registry).rglob("*"))
