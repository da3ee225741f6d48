"""The Pusher's KServe step and `promote` / `rollback`: the real Kubernetes client, with
credentials from a kube config, against a local server standing in for the Kubernetes API
(tests/serving/fake_k8s.py); assertions on the patch bodies and the resulting object."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from components.evaluator.executor import Blessing, write_blessing
from components.pusher import executor as pusher
from pipelines.cli import app
from tests.conftest import taxi_config
from tests.serving.fake_k8s import FakeKubernetes

NS, NAME = "taxi-prod", "chicago-taxi-big-tipper-raw"
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{NAME}"
OLD_URI = "gs://models/registry/chicago_taxi_big_tipper/1700000000"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeKubernetes() as fake:
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
                      "clusters": [{"name": "test", "cluster": {"server": fake.url}}],
                      "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
                      "users": [{"name": "test", "user": {"token": "test-token"}}]}
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        fake.put_object({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                         "metadata": {"name": NAME, "namespace": NS},
                         "spec": {"predictor": {"containers": [{
                             "name": "kserve-container", "image": "taxi-serving:abc",
                             "env": [{"name": "STORAGE_URI", "value": OLD_URI}]}]}}})
        yield fake


def kserve_config(tmp_path):
    return taxi_config(tmp_path, push={"kserve": {"namespace": NS, "name": NAME, "canary_percent": 20}})


def patches(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.method == "PATCH" and r.path == PATH]


def test_push_rolls_the_new_version_out_as_a_canary(chain, cluster, tmp_path):
    config = kserve_config(tmp_path)
    write_blessing(str(tmp_path / "blessing"), Blessing(True, [], {"auc": 0.9}))
    result = pusher.run(config, str(chain.model / "Format-Serving"), str(tmp_path / "blessing"),
                        str(chain.schema / "schema.pbtxt"), str(tmp_path / "pushed"))
    assert result.pushed and result.kserve["action"] == "canary"
    [patch] = patches(cluster)
    assert patch["spec"]["predictor"]["canaryTrafficPercent"] == 20
    [container] = patch["spec"]["predictor"]["containers"]
    assert {"name": "STORAGE_URI", "value": result.destination} in container["env"]
    assert container["image"] == "taxi-serving:abc"  # the rest of the container is kept
    assert patch["metadata"]["annotations"]["taxi-mlops.dev/previous-storage-uri"] == OLD_URI
    assert patch["metadata"]["annotations"]["taxi-mlops.dev/model-version"] == str(result.version)
    saved = json.loads((tmp_path / "pushed" / "push_result.json").read_text())
    assert saved["kserve"]["storage_uri"] == result.destination


def test_not_blessed_touches_no_inference_service(chain, cluster, tmp_path):
    write_blessing(str(tmp_path / "blessing"), Blessing(False, [], {"auc": 0.5}, reasons=["AUC = 0.5 is outside [0.75, None]"]))
    result = pusher.run(kserve_config(tmp_path), str(chain.model / "Format-Serving"), str(tmp_path / "blessing"),
                        str(chain.schema / "schema.pbtxt"), str(tmp_path / "pushed"))
    assert not result.pushed and result.kserve is None
    assert cluster.requests == []


def test_promote_and_rollback_commands(chain, cluster, tmp_path):
    config = kserve_config(tmp_path)
    write_blessing(str(tmp_path / "blessing"), Blessing(True, [], {"auc": 0.9}))
    pushed = pusher.run(config, str(chain.model / "Format-Serving"), str(tmp_path / "blessing"),
                        str(chain.schema / "schema.pbtxt"), str(tmp_path / "pushed"))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    runner = CliRunner()
    promoted = runner.invoke(app, ["promote", "--config", str(config_file)])
    assert promoted.exit_code == 0, promoted.output
    assert patches(cluster)[-1]["spec"]["predictor"] == {"canaryTrafficPercent": 100}
    rolled = runner.invoke(app, ["rollback", "--config", str(config_file), "--restore"])
    assert rolled.exit_code == 0, rolled.output
    assert "restored" in rolled.output and OLD_URI in rolled.output
    restore = patches(cluster)[-1]
    assert {"name": "STORAGE_URI", "value": OLD_URI} in restore["spec"]["predictor"]["containers"][0]["env"]
    assert restore["spec"]["predictor"]["canaryTrafficPercent"] is None  # merge patch: removed
    live = cluster.objects[(NS, NAME)]["spec"]["predictor"]
    assert {"name": "STORAGE_URI", "value": OLD_URI} in live["containers"][0]["env"]
    assert pushed.destination != OLD_URI
