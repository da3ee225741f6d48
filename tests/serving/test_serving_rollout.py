"""Canary deploy, promote and rollback (serving/rollout) through the real Kubernetes Python
client against a local fake API server (fake_k8s.py): assertions on the real request bodies
and on the object the merge patches leave."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fake_k8s import FakeKubernetes
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rollout import ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION, IsvcRollout, RolloutError, storage_uri_of
from rollout.__main__ import main as rollout_cli

MANIFESTS = Path(__file__).resolve().parents[2] / "serving" / "manifests"
NS = "tabml-prod"
RAW, TFS = "tabml-model-raw", "tabml-model"
BASE_URI = "gs://REGISTRY_BUCKET/registry/penguin_species"
V1, V2, V3 = f"{BASE_URI}/1795336682", f"{BASE_URI}/1795336860", f"{BASE_URI}/1795337000"
ISVC_PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not on PATH")
    out = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS / "overlays" / "production")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d and d["kind"] == "InferenceService"}


@pytest.fixture
def fake():
    with FakeKubernetes() as f:
        yield f


def api_for(fake) -> client.CustomObjectsApi:
    cfg = client.Configuration()
    cfg.host = fake.url
    return client.CustomObjectsApi(client.ApiClient(cfg))


def deployed(rendered, name: str, uri: str) -> dict:
    """The object as a live cluster would hold it after a first rollout of `uri` (no canary yet)."""
    obj = copy.deepcopy(rendered[name])
    obj["spec"]["predictor"].pop("canaryTrafficPercent", None)
    if "model" in obj["spec"]["predictor"]:
        obj["spec"]["predictor"]["model"]["storageUri"] = uri
    else:
        obj["spec"]["predictor"]["containers"][0]["env"] = [{"name": "STORAGE_URI", "value": uri}]
    return obj


def patches(fake) -> list:
    return [r for r in fake.requests if r.method == "PATCH"]


def test_first_deploy_creates_the_isvc_from_the_template(fake, rendered):
    result = IsvcRollout(api_for(fake), NS, RAW).deploy(V1, 10, model_version="1795336682", template=rendered[RAW])
    assert result.action == "created"
    [get, post] = fake.requests
    assert (get.method, get.path) == ("GET", f"{ISVC_PATH}/{RAW}")
    assert (post.method, post.path) == ("POST", ISVC_PATH)
    assert "canaryTrafficPercent" not in post.body["spec"]["predictor"]  # nothing to split with yet
    assert post.body["spec"]["predictor"]["containers"][0]["env"] == [{"name": "STORAGE_URI", "value": V1}]
    assert post.body["metadata"]["annotations"][ANNOTATION_VERSION] == "1795336682"
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1


def test_deploy_of_a_new_version_is_a_canary_patch(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    rv = fake.objects[(NS, RAW)]["metadata"]["resourceVersion"]
    result = IsvcRollout(api_for(fake), NS, RAW).deploy(V2, 10, model_version="1795336860")
    assert (result.action, result.previous_storage_uri, result.canary_percent) == ("canary", V1, 10)
    [patch] = patches(fake)
    assert patch.path == f"{ISVC_PATH}/{RAW}"
    assert patch.content_type == "application/merge-patch+json"
    container = copy.deepcopy(rendered[RAW]["spec"]["predictor"]["containers"][0])
    container["env"] = [{"name": "STORAGE_URI", "value": V2}]
    assert patch.body == {
        "metadata": {
            "annotations": {ANNOTATION_PREVIOUS_URI: V1, ANNOTATION_VERSION: "1795336860"},
            "resourceVersion": rv,
        },
        "spec": {"predictor": {"containers": [container], "canaryTrafficPercent": 10}},
    }
    live = fake.objects[(NS, RAW)]
    assert live["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert storage_uri_of(live) == V2
    # the rest of the predictor is untouched
    assert live["spec"]["predictor"]["containers"][0]["args"] == container["args"]
    assert live["spec"]["predictor"]["minReplicas"] == rendered[RAW]["spec"]["predictor"]["minReplicas"]


def test_redeploying_the_served_version_sends_nothing(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V2))
    result = IsvcRollout(api_for(fake), NS, RAW).deploy(V2, 10)
    assert result.action == "unchanged" and patches(fake) == []


def test_tf_serving_isvc_is_not_given_a_version_dir(fake, rendered):
    """KServe's TF Serving runtime needs the base path (it loads new versions itself): a
    canary of a version directory would leave it with nothing to serve."""
    fake.put_object(deployed(rendered, TFS, BASE_URI))
    with pytest.raises(RolloutError, match="uses a ServingRuntime"):
        IsvcRollout(api_for(fake), NS, TFS).deploy(V2, 25)
    assert patches(fake) == []


def test_only_pinned_versions_are_deployed(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    with pytest.raises(RolloutError, match="not a version directory"):
        IsvcRollout(api_for(fake), NS, RAW).deploy(BASE_URI, 10)
    assert patches(fake) == []


def test_previous_is_never_an_unpromoted_canary(fake, rendered):
    """deploy v2 (canary) -> rollback -> deploy v3: --restore must go back to v1, not v2."""
    fake.put_object(deployed(rendered, RAW, V1))
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    rollout.deploy(V2, 10)
    rollout.rollback()
    rollout.deploy(V3, 10)
    assert fake.objects[(NS, RAW)]["metadata"]["annotations"][ANNOTATION_PREVIOUS_URI] == V1
    assert rollout.rollback(restore=True).storage_uri == V1


def test_promote_then_rollback(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    rollout.deploy(V2, 10)
    promoted = rollout.promote()
    assert promoted.action == "promoted"
    assert patches(fake)[-1].body["spec"] == {"predictor": {"canaryTrafficPercent": 100}}
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 100

    rolled = rollout.rollback()
    assert (rolled.action, rolled.previous_storage_uri) == ("rolled-back", V1)
    assert patches(fake)[-1].body["spec"] == {"predictor": {"canaryTrafficPercent": 0}}
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V2  # traffic moved; the spec still names v2


def test_rollback_with_restore_puts_the_previous_uri_back(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    rollout.deploy(V2, 10)
    result = rollout.rollback(restore=True)
    assert (result.action, result.storage_uri) == ("restored", V1)
    first, second = patches(fake)[-2:]
    assert first.body["spec"] == {"predictor": {"canaryTrafficPercent": 0}}
    assert second.body["spec"]["predictor"]["canaryTrafficPercent"] is None  # merge patch: remove
    assert second.body["spec"]["predictor"]["containers"][0]["env"] == [{"name": "STORAGE_URI", "value": V1}]
    assert second.body["metadata"]["annotations"] == {ANNOTATION_PREVIOUS_URI: None}
    assert second.body["metadata"]["resourceVersion"] != first.body["metadata"]["resourceVersion"]
    live = fake.objects[(NS, RAW)]
    assert storage_uri_of(live) == V1
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]
    assert ANNOTATION_PREVIOUS_URI not in live["metadata"].get("annotations", {})


def test_errors_name_the_problem(fake, rendered):
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    with pytest.raises(RolloutError, match=f"{NS}/{RAW} does not exist"):
        rollout.promote()
    with pytest.raises(RolloutError, match="no template"):
        rollout.deploy(V1, 10)
    with pytest.raises(RolloutError, match="0..100"):
        rollout.deploy(V1, 150)
    fake.put_object(deployed(rendered, RAW, V1))
    with pytest.raises(RolloutError, match="no previous storage URI"):
        rollout.rollback(restore=True)


def test_a_concurrent_change_is_a_409_not_an_overwrite(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    stale = rollout.get()
    fake.bump(NS, RAW)  # someone else wrote the object meanwhile
    from rollout.isvc import RolloutResult

    with pytest.raises(ApiException) as info:
        rollout._patch(stale, {"spec": {"predictor": {"canaryTrafficPercent": 0}}}, RolloutResult("", NS, RAW))
    assert info.value.status == 409
    assert "canaryTrafficPercent" not in fake.objects[(NS, RAW)]["spec"]["predictor"]


def test_cli_deploy_promote_rollback(fake, rendered, capsys):
    fake.put_object(deployed(rendered, RAW, V1))
    common = ["--namespace", NS, "--name", RAW, "--api-server", fake.url]
    assert rollout_cli(["deploy", *common, "--storage-uri", V2, "--canary-percent", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "canary"
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert rollout_cli(["promote", *common]) == 0
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 100
    assert rollout_cli(["rollback", *common, "--restore"]) == 0
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1
    assert rollout_cli(["promote", "--namespace", NS, "--name", "nope", "--api-server", fake.url]) == 2
    assert "does not exist" in capsys.readouterr().err
