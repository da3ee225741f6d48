"""Canary deploy, promote and rollback (serving/rollout) through the real Kubernetes Python
client against a local fake API server (fake_k8s.py): assertions on the real request bodies
and on the object the merge patches leave."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from fake_k8s import FakeKubernetes
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rollout import (
    ANNOTATION_PREVIOUS_URI,
    ANNOTATION_STORAGE_URI,
    ANNOTATION_VERSION,
    FIELD_MANAGER,
    IsvcRollout,
    RolloutError,
    metrics_annotations,
    storage_uri_of,
)
from rollout.__main__ import main as rollout_cli

MANIFESTS = Path(__file__).resolve().parents[2] / "serving" / "manifests"
NS = "tabml-prod"
RAW, TFS = "tabml-model-raw", "tabml-model"
BASE_URI = "gs://REGISTRY_BUCKET/registry/penguin_species"
V1, V2, V3 = f"{BASE_URI}/1795336682", f"{BASE_URI}/1795336860", f"{BASE_URI}/1795337000"
ISVC_PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"


def kustomize(target: Path) -> dict[str, dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not on PATH")
    out = subprocess.run(
        [kubectl, "kustomize", str(target)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d and d["kind"] == "InferenceService"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict]:
    """Production with the Serverless component: Knative revisions and a canary."""
    overlay = tmp_path_factory.mktemp("serverless")
    up = os.path.relpath(MANIFESTS, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{up}/overlays/production"],
                "components": [f"{up}/components/serverless"],
            }
        )
    )
    return kustomize(overlay)


@pytest.fixture(scope="module")
def rendered_raw() -> dict[str, dict]:
    """Production as the base has it: RawDeployment."""
    return kustomize(MANIFESTS / "overlays" / "production")


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
    assert patch.query["fieldManager"] == [FIELD_MANAGER]  # `kubectl apply --server-side` conflicts, not resets
    container = copy.deepcopy(rendered[RAW]["spec"]["predictor"]["containers"][0])
    container["env"] = [{"name": "STORAGE_URI", "value": V2}]
    assert patch.body == {
        "metadata": {
            "annotations": {ANNOTATION_PREVIOUS_URI: V1, ANNOTATION_VERSION: "1795336860", ANNOTATION_STORAGE_URI: V2},
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
    assert second.body["metadata"]["annotations"] == {ANNOTATION_PREVIOUS_URI: None, ANNOTATION_STORAGE_URI: V1}
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
    deploy = ["deploy", *common, "--storage-uri", V2, "--canary-percent", "20", "--ready-timeout", "0"]
    assert rollout_cli(deploy) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "canary"
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert rollout_cli(["promote", *common]) == 0
    assert fake.objects[(NS, RAW)]["spec"]["predictor"]["canaryTrafficPercent"] == 100
    assert rollout_cli(["rollback", *common, "--restore"]) == 0
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1
    assert rollout_cli(["promote", "--namespace", NS, "--name", "nope", "--api-server", fake.url]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- readiness: what KServe's controller would write, per deployment mode -------------------------
FAST = {"poll_s": 0.02}


def serverless_status(revision: int, ready: int, conditions: list[dict]) -> dict:
    return {
        "deploymentMode": "Serverless",
        "components": {
            "predictor": {
                "latestCreatedRevision": f"{RAW}-predictor-{revision:05d}",
                "latestReadyRevision": f"{RAW}-predictor-{ready:05d}",
            }
        },
        "conditions": conditions,
    }


def serverless_controller(fake, outcome: str | None):
    """Each spec change is a new revision: ready, failed (RevisionFailed), or never reconciled."""
    revision = {"n": 1}

    def reconcile(obj):
        if outcome is None or obj["metadata"]["name"] != RAW:
            return
        revision["n"] += 1
        n = revision["n"]
        if outcome == "ready":
            obj["status"] = serverless_status(n, n, [{"type": "PredictorReady", "status": "True"}])
        else:
            failed = {
                "type": "PredictorConfigurationReady",
                "status": "False",
                "reason": "RevisionFailed",
                "message": f"Revision {RAW}-predictor-{n:05d} failed: Back-off pulling image",
            }
            obj["status"] = serverless_status(n, n - 1, [{"type": "PredictorReady", "status": "True"}, failed])

    fake.controller = reconcile


def live_serverless(rendered) -> dict:
    obj = deployed(rendered, RAW, V1)
    obj["status"] = serverless_status(1, 1, [{"type": "PredictorReady", "status": "True"}])
    return obj


def test_serverless_deploy_waits_for_the_new_revision(fake, rendered):
    fake.put_object(live_serverless(rendered))
    serverless_controller(fake, "ready")
    result = IsvcRollout(api_for(fake), NS, RAW, **FAST).deploy(V2, 10, ready_timeout_s=5)
    assert (result.action, result.mode, result.canary_percent) == ("canary", "Serverless", 10)
    assert result.ready == f"revision {RAW}-predictor-00002 is ready"
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V2


def test_a_failed_canary_is_reverted_and_named(fake, rendered):
    fake.put_object(live_serverless(rendered))
    serverless_controller(fake, "failed")
    with pytest.raises(RolloutError) as info:
        IsvcRollout(api_for(fake), NS, RAW, **FAST).deploy(V2, 10, model_version="2", ready_timeout_s=5)
    message = str(info.value)
    assert "PredictorConfigurationReady=False (RevisionFailed: Revision" in message and "Back-off pulling" in message
    assert f"reverted to {V1}" in message
    live = fake.objects[(NS, RAW)]
    assert storage_uri_of(live) == V1
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]  # as before the deploy
    for key in (ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION, ANNOTATION_STORAGE_URI):
        assert key not in live["metadata"].get("annotations", {})
    revert = patches(fake)[-1].body
    assert revert["spec"]["predictor"]["canaryTrafficPercent"] is None
    assert revert["metadata"]["annotations"] == dict.fromkeys(
        (ANNOTATION_STORAGE_URI, ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION)
    )


def test_a_canary_that_never_comes_up_times_out_and_is_reverted(fake, rendered):
    fake.put_object(live_serverless(rendered))
    serverless_controller(fake, None)  # the status keeps naming revision 1
    with pytest.raises(RolloutError, match=r"is not ready after 0.3s: waiting for KServe to create a new revision"):
        IsvcRollout(api_for(fake), NS, RAW, **FAST).deploy(V2, 10, ready_timeout_s=0.3)
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1


def raw_deployment(uri: str, generation: int, status: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{RAW}-predictor", "namespace": NS, "generation": generation},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"isvc.{RAW}-predictor"}},
            "template": {
                "metadata": {"labels": {"app": f"isvc.{RAW}-predictor"}},
                "spec": {
                    "containers": [
                        {"name": "kserve-container", "image": "i", "env": [{"name": "STORAGE_URI", "value": uri}]}
                    ]
                },
            },
        },
        "status": status,
    }


def raw_controller(fake, outcome: str):
    """RawDeployment: PredictorReady stays True on the old pods; the Deployment tells the truth."""
    generation = {"n": 1}

    def reconcile(obj):
        if obj["metadata"]["name"] != RAW:
            return
        generation["n"] += 1
        n = generation["n"]
        obj["status"] = {
            "deploymentMode": "RawDeployment",
            "conditions": [{"type": "PredictorReady", "status": "True"}],
        }
        if outcome == "ready":
            status = {"observedGeneration": n, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        elif outcome == "stuck":
            status = {"observedGeneration": n, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
        else:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{RAW}-predictor-7d9" has timed out progressing.',
            }
            status = {"observedGeneration": n, "replicas": 3, "updatedReplicas": 1, "conditions": [progressing]}
        fake.put_object(raw_deployment(storage_uri_of(obj), n, status))

    fake.controller = reconcile


def live_raw(rendered_raw) -> dict:
    obj = deployed(rendered_raw, RAW, V1)
    obj["status"] = {"deploymentMode": "RawDeployment", "conditions": [{"type": "PredictorReady", "status": "True"}]}
    return obj


def test_raw_deployment_rolls_over_without_a_canary_and_waits_for_the_deployment(fake, rendered_raw):
    assert rendered_raw[RAW]["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    fake.put_object(live_raw(rendered_raw))
    fake.put_object(raw_deployment(V1, 1, {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2}))
    raw_controller(fake, "ready")
    rollout = IsvcRollout(api_for(fake), NS, RAW, **FAST)
    result = rollout.deploy(V2, 10, ready_timeout_s=5)
    assert (result.action, result.mode, result.canary_percent) == ("updated", "RawDeployment", None)
    assert "canaryTrafficPercent" not in patches(fake)[0].body["spec"]["predictor"]  # KServe ignores it in raw
    assert result.ready == f"Deployment {RAW}-predictor: 2 replicas of the new model available"
    assert any(r.path == f"/apis/apps/v1/namespaces/{NS}/deployments/{RAW}-predictor" for r in fake.requests)
    # promote: nothing to do; rollback: the previous URI back (no revisions to send traffic to)
    assert rollout.promote().action.startswith("already-serving") and len(patches(fake)) == 1
    rolled = rollout.rollback()
    assert (rolled.action, rolled.storage_uri) == ("restored", V1)
    assert "canaryTrafficPercent" not in patches(fake)[-1].body["spec"]["predictor"]
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("stuck", r"is not ready after 0.3s: Deployment tabml-model-raw-predictor: 1 of 2 replicas run the new model"),
        ("failed", r"failed: Deployment tabml-model-raw-predictor: Progressing=False \(ProgressDeadlineExceeded: "),
    ],
)
def test_raw_ready_condition_alone_is_not_trusted(fake, rendered_raw, outcome, expected):
    """PredictorReady is True throughout (the old pods); the rollout still fails and is reverted."""
    fake.put_object(live_raw(rendered_raw))
    raw_controller(fake, outcome)
    with pytest.raises(RolloutError, match=expected):
        IsvcRollout(api_for(fake), NS, RAW, **FAST).deploy(V2, 10, ready_timeout_s=0.3)
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1


def test_a_first_raw_deployment_is_awaited_not_failed(fake, rendered_raw):
    """KServe copies the new Deployment's Available=False (MinimumReplicasUnavailable) into
    PredictorReady until the first pod is up: that is waiting, not a failure."""

    def reconcile(obj):
        obj["status"] = {
            "deploymentMode": "RawDeployment",
            "conditions": [{"type": "PredictorReady", "status": "False", "reason": "MinimumReplicasUnavailable"}],
        }
        fake.put_object(raw_deployment(storage_uri_of(obj), 1, {"observedGeneration": 1, "replicas": 2}))

        def pods_up():  # the image is pulled, the pods pass their probes
            obj["status"]["conditions"] = [{"type": "PredictorReady", "status": "True"}]
            fake.put_object(
                raw_deployment(
                    storage_uri_of(obj),
                    1,
                    {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
                )
            )

        threading.Timer(0.3, pods_up).start()

    fake.controller = reconcile
    result = IsvcRollout(api_for(fake), NS, RAW, **FAST).deploy(
        V1, 10, template=copy.deepcopy(rendered_raw[RAW]), ready_timeout_s=5
    )
    assert result.action == "created"
    assert result.ready == f"Deployment {RAW}-predictor: 2 replicas of the new model available"


def test_a_retried_deploy_waits_for_the_earlier_one_and_rolls_it_back(fake, rendered_raw):
    """An earlier try patched V2 in and was cut off; the retry sends nothing but still waits,
    and rolls back to the recorded previous model when V2 never comes up."""
    fake.put_object(live_raw(rendered_raw))
    rollout = IsvcRollout(api_for(fake), NS, RAW, **FAST)
    rollout.deploy(V2, 10)  # the earlier try: patched, did not wait
    raw_controller(fake, "stuck")
    fake.put_object(raw_deployment(V2, 2, {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}))
    with pytest.raises(RolloutError, match=r"deployed by an earlier try, is not ready after 0.3s: .*rolled back to "):
        rollout.deploy(V2, 10, ready_timeout_s=0.3)
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V1


def test_created_isvc_is_scraped_in_its_mode(fake, rendered_raw):
    template = copy.deepcopy(rendered_raw[RAW])
    for key in metrics_annotations("RawDeployment"):
        template["metadata"]["annotations"].pop(key)
    IsvcRollout(api_for(fake), NS, RAW).deploy(V1, 10, template=template)
    [post] = [r for r in fake.requests if r.method == "POST"]
    annotations = post.body["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8080" and annotations["prometheus.io/path"] == "/metrics"
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "false"  # else KServe points it at 9091
    assert post.query["fieldManager"] == [FIELD_MANAGER]


def test_sync_reasserts_the_version_after_a_manifest_reapply(fake, rendered):
    fake.put_object(deployed(rendered, RAW, V1))
    rollout = IsvcRollout(api_for(fake), NS, RAW)
    rollout.deploy(V2, 10)
    # `kubectl apply -k` (client-side) puts the manifest's containers back; annotations it does not name stay
    live = fake.objects[(NS, RAW)]
    live["spec"]["predictor"]["containers"] = copy.deepcopy(rendered[RAW]["spec"]["predictor"]["containers"])
    assert storage_uri_of(live).endswith("/VERSION")
    result = rollout.sync()
    assert (result.action, result.storage_uri) == ("re-asserted", V2)
    assert storage_uri_of(fake.objects[(NS, RAW)]) == V2
    assert rollout.sync().action == "in-sync"


def test_no_cluster_credentials_is_refused_with_the_ways_out(tmp_path, monkeypatch):
    from rollout import custom_objects_api

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(RolloutError) as info:
        custom_objects_api()
    assert "Vertex AI Pipelines" in str(info.value) and "push.vertex_endpoint" in str(info.value)
    assert rollout_cli(["promote", "--namespace", NS, "--name", RAW]) == 2


def test_a_vertex_job_is_refused_even_with_a_kube_config(tmp_path, monkeypatch):
    """A Vertex AI Pipelines task may see some Kubernetes, never the serving cluster's."""
    from rollout import custom_objects_api

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("CLOUD_ML_JOB_ID", "1234567890")
    with pytest.raises(RolloutError, match="this is a Vertex AI job: CLOUD_ML_JOB_ID is set"):
        custom_objects_api()
