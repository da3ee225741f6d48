"""Deploy a pushed model version to a KServe InferenceService, wait until it serves, promote or
roll it back.

KServe (v1beta1) has two deployment modes, and they roll out differently:
  Serverless (Knative): a predictor spec change is a new revision; with
      `spec.predictor.canaryTrafficPercent` the new revision gets that share of the traffic
      and the last one fully rolled out keeps the rest. deploy(uri, 10) patches the storage URI
      and canaryTrafficPercent: 10; promote() sets 100; rollback() sets 0 (all traffic back on
      the previous revision at once), restore=True also puts the previous URI back.
  RawDeployment (a plain Deployment; the default this project's cluster installs): KServe
      ignores canaryTrafficPercent (only its Knative reconciler reads it), so there is no
      canary: deploy(uri) patches the storage URI and the Deployment rolls its pods over (old
      pods serve until new ones are ready). promote() has nothing to do; rollback() puts the
      previous storage URI back (another rolling update).
The mode is the object's `serving.kserve.io/deploymentMode` annotation, else the cluster
default KServe recorded in status.deploymentMode.

deploy(..., ready_timeout_s=N) then waits until the new model serves (ready.py says how
per mode); on a failed condition or after N seconds it reverts its own patch (the previous
storage URI, traffic and annotations) and raises RolloutError naming the conditions' reasons.

The storage URI lives in the STORAGE_URI env var of the custom predictor's first container
(serving/manifests/base/inferenceservice-custom.yaml), and must be a *version* directory
(`<registry>/<model>/<version>`), so that old pods keep serving the old version. (KServe's TF
Serving runtime needs a base path and moves to a new version by itself: deploy refuses it.)

All changes are JSON merge patches (`application/merge-patch+json`, the client's default for
custom objects) that carry metadata.resourceVersion, so a concurrent change makes the API
server answer 409 instead of being overwritten, and name the field manager `tabml-rollout`:
the API server then records this tool as the owner of the predictor's containers, and a
`kubectl apply --server-side` of the manifests that would reset the storage URI stops with a
conflict naming it (instead of silently undoing the rollout). `sync()` re-asserts the URI the
rollout last set (kept in the annotation tabml.dev/storage-uri, which the manifests never set)
after a client-side `kubectl apply` reset it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .ready import (
    MODE_ANNOTATION,
    RAW,
    SERVERLESS,
    Readiness,
    deployment_mode,
    latest_created_revision,
    raw_readiness,
    serverless_readiness,
)

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
ANNOTATION_PREVIOUS_URI = "tabml.dev/previous-storage-uri"
ANNOTATION_VERSION = "tabml.dev/model-version"
ANNOTATION_STORAGE_URI = "tabml.dev/storage-uri"  # what the rollout last set (sync re-asserts it)
STORAGE_ENV = "STORAGE_URI"
FIELD_MANAGER = "tabml-rollout"
METRICS_PORT, METRICS_PATH = "8080", "/metrics"


class RolloutError(Exception):
    """A rollout step that cannot be done (the message says why)."""


@dataclass
class RolloutResult:
    action: str  # created | canary | updated | unchanged | promoted | rolled-back | restored | ...
    namespace: str
    name: str
    storage_uri: str = ""
    previous_storage_uri: str = ""
    canary_percent: int | None = None
    patches: list[dict] = field(default_factory=list)  # the bodies sent, in order
    mode: str = ""  # Serverless | RawDeployment | "" (not known yet)
    ready: str = ""  # what the readiness wait saw last, when deploy waited


def is_version_dir(uri: str) -> bool:
    """A pinned registry version (<registry>/<model>/<digits>), not a base path whose newest
    version changes under a running revision."""
    return uri.rstrip("/").rsplit("/", 1)[-1].isdigit()


def fully_rolled_out(isvc: dict) -> bool:
    """No canary in flight: the spec's model is the one taking all traffic."""
    percent = isvc.get("spec", {}).get("predictor", {}).get("canaryTrafficPercent")
    return percent is None or percent == 100


def storage_uri_of(isvc: dict) -> str:
    predictor = isvc.get("spec", {}).get("predictor", {})
    if "model" in predictor:
        return predictor["model"].get("storageUri", "")
    for env in (predictor.get("containers") or [{}])[0].get("env", []) or []:
        if env.get("name") == STORAGE_ENV:
            return env.get("value", "")
    return ""


def metrics_annotations(mode: str | None) -> dict[str, str]:
    """How Prometheus finds the predictor's /metrics (port 8080) in each mode. KServe 0.15's pod
    webhook (metrics_aggregate_injector.go), on serving.kserve.io/enable-prometheus-scraping:
    "true", sets prometheus.io/port to queue-proxy's port (9091, or 9088 with metric
    aggregation, which then scrapes the container at prometheus.kserve.io/port/path). Only
    Serverless pods have a queue-proxy: in RawDeployment that port is empty, so there the
    webhook is told "false" and the pod is annotated with the container's own port."""
    if mode == SERVERLESS:
        return {
            "serving.kserve.io/enable-prometheus-scraping": "true",
            "serving.kserve.io/enable-metric-aggregation": "true",
            "prometheus.kserve.io/port": METRICS_PORT,
            "prometheus.kserve.io/path": METRICS_PATH,
            "prometheus.io/scrape": "true",
        }
    return {
        "serving.kserve.io/enable-prometheus-scraping": "false",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": METRICS_PORT,
        "prometheus.io/path": METRICS_PATH,
    }


def _with_storage_uri(predictor: dict, uri: str) -> dict:
    """The part of spec.predictor to send so that the model's storage URI becomes `uri`."""
    if "model" in predictor:
        return {"model": {"storageUri": uri}}
    containers = copy.deepcopy(predictor.get("containers") or [])
    if not containers:
        raise RolloutError("the predictor has neither `model` nor `containers`")
    env = [e for e in containers[0].get("env", []) or [] if e.get("name") != STORAGE_ENV]
    containers[0]["env"] = env + [{"name": STORAGE_ENV, "value": uri}]
    return {"containers": containers}  # merge patch replaces lists whole: send all of it


class IsvcRollout:
    def __init__(self, api: client.CustomObjectsApi, namespace: str, name: str, *, poll_s: float = 5.0):
        self.api, self.namespace, self.name, self.poll_s = api, namespace, name, poll_s

    # -- API calls ---------------------------------------------------------------------------
    def get(self) -> dict | None:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def get_deployment(self) -> dict | None:
        """The predictor's Deployment in RawDeployment mode (`<name>-predictor`; KServe before
        0.9 named it `<name>-predictor-default`)."""
        apps = client.AppsV1Api(self.api.api_client)
        for name in (f"{self.name}-predictor", f"{self.name}-predictor-default"):
            try:
                found = apps.read_namespaced_deployment(name, self.namespace)
            except ApiException as e:
                if e.status == 404:
                    continue
                raise
            return self.api.api_client.sanitize_for_serialization(found)
        return None

    def _require(self) -> dict:
        isvc = self.get()
        if isvc is None:
            raise RolloutError(f"InferenceService {self.namespace}/{self.name} does not exist")
        return isvc

    def _patch(self, isvc: dict, body: dict, result: RolloutResult) -> dict:
        body = copy.deepcopy(body)
        body.setdefault("metadata", {})["resourceVersion"] = isvc["metadata"].get("resourceVersion")
        if body["metadata"]["resourceVersion"] is None:
            del body["metadata"]["resourceVersion"]
        result.patches.append(body)
        return self.api.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name, body, field_manager=FIELD_MANAGER
        )

    # -- readiness ---------------------------------------------------------------------------
    def wait_ready(self, storage_uri: str, timeout_s: float, revision_before: str = "") -> Readiness:
        """Polls until the InferenceService serves `storage_uri`, a condition fails, or timeout_s
        passes (then `failed` is False and `ready` is False)."""
        deadline = time.monotonic() + timeout_s
        state = Readiness(detail="not checked yet")
        while True:
            isvc = self._require()
            mode = deployment_mode(isvc)
            if mode == SERVERLESS:
                state = serverless_readiness(isvc, revision_before)
            elif mode == RAW:
                state = raw_readiness(isvc, self.get_deployment(), storage_uri)
            else:
                state = Readiness(detail="KServe has not reconciled the InferenceService (no status.deploymentMode)")
            if state.ready or state.failed or time.monotonic() >= deadline:
                return state
            time.sleep(min(self.poll_s, max(deadline - time.monotonic(), 0)))

    # -- operations --------------------------------------------------------------------------
    def deploy(
        self,
        storage_uri: str,
        canary_percent: int,
        *,
        model_version: str = "",
        template: dict | None = None,
        ready_timeout_s: float | None = None,
    ) -> RolloutResult:
        """Serve `storage_uri`: as a canary of canary_percent in Serverless mode when a model is
        already served; with ready_timeout_s, wait until it serves, else revert and raise."""
        if not 0 <= canary_percent <= 100:
            raise RolloutError(f"canary_percent must be within 0..100, got {canary_percent}")
        if not is_version_dir(storage_uri):
            raise RolloutError(
                f"{storage_uri} is not a version directory (<registry>/<model>/<version>): "
                "a base path would let old pods pick up the new model"
            )
        result = RolloutResult("", self.namespace, self.name, storage_uri)
        isvc = self.get()
        if isvc is not None and "model" in isvc["spec"]["predictor"]:
            raise RolloutError(
                f"{self.namespace}/{self.name} uses a ServingRuntime (spec.predictor.model), which needs a "
                "model base path and loads new versions by itself, without a canary; canary rollouts go to "
                "the custom predictor (serving/manifests/base/inferenceservice-custom.yaml)"
            )
        if isvc is None:
            self._create(storage_uri, model_version, template, result)
            revision_before = ""
        else:
            result.mode = deployment_mode(isvc) or ""
            current = storage_uri_of(isvc)
            result.previous_storage_uri = current
            if current == storage_uri:
                # A retried deploy (an earlier try patched it, then failed or was cut off):
                # nothing to send, but it is done only once it serves.
                result.action = "unchanged"
                if ready_timeout_s is not None:
                    self._wait_for_earlier_deploy(storage_uri, ready_timeout_s, result)
                return result
            revision_before = latest_created_revision(isvc)
            self._update(isvc, storage_uri, canary_percent, model_version, result)
        if ready_timeout_s is None:
            return result
        state = self.wait_ready(storage_uri, ready_timeout_s, revision_before)
        result.ready = state.detail
        if state.ready:
            return result
        what = "failed" if state.failed else f"is not ready after {ready_timeout_s:g}s"
        message = f"InferenceService {self.namespace}/{self.name}: {storage_uri} {what}: {state.detail}"
        if isvc is None:
            raise RolloutError(f"{message}; it was created by this deploy, so there is nothing to go back to")
        try:
            self._revert(isvc, result)
        except ApiException as e:
            raise RolloutError(f"{message}; reverting it failed too ({e.status} {e.reason}): fix it by hand") from e
        raise RolloutError(
            f"{message}; reverted to {result.previous_storage_uri} "
            f"(see `kubectl describe inferenceservice -n {self.namespace} {self.name}` and its pods' events)"
        )

    def _wait_for_earlier_deploy(self, storage_uri: str, ready_timeout_s: float, result: RolloutResult) -> None:
        state = self.wait_ready(storage_uri, ready_timeout_s)
        result.ready = state.detail
        if state.ready:
            return
        what = "failed" if state.failed else f"is not ready after {ready_timeout_s:g}s"
        message = (
            f"InferenceService {self.namespace}/{self.name}: {storage_uri}, deployed by an earlier try, {what}: "
            f"{state.detail}"
        )
        previous = (self._require()["metadata"].get("annotations") or {}).get(ANNOTATION_PREVIOUS_URI)
        if not previous:
            raise RolloutError(f"{message}; no previous model is recorded to go back to")
        rolled = self.rollback(restore=True)
        result.action, result.patches = "reverted", result.patches + rolled.patches
        raise RolloutError(f"{message}; rolled back to {previous}")

    def _create(self, storage_uri: str, model_version: str, template: dict | None, result: RolloutResult) -> None:
        if template is None:
            raise RolloutError(
                f"InferenceService {self.namespace}/{self.name} does not exist and "
                f"no template was given (kubectl apply -k serving/manifests/overlays/...)"
            )
        body = copy.deepcopy(template)
        body.setdefault("metadata", {}).update(name=self.name, namespace=self.namespace)
        body["metadata"].pop("resourceVersion", None)
        predictor = body["spec"]["predictor"]
        predictor.pop("canaryTrafficPercent", None)  # a first revision takes all traffic
        if "model" in predictor:
            predictor["model"]["storageUri"] = storage_uri
        else:
            predictor["containers"] = _with_storage_uri(predictor, storage_uri)["containers"]
        annotations = body["metadata"].setdefault("annotations", {})
        result.mode = annotations.get(MODE_ANNOTATION, "")
        for key, value in metrics_annotations(result.mode or RAW).items():
            annotations.setdefault(key, value)  # the template's own choice wins
        annotations[ANNOTATION_STORAGE_URI] = storage_uri
        if model_version:
            annotations[ANNOTATION_VERSION] = str(model_version)
        result.patches.append(body)
        self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body, field_manager=FIELD_MANAGER
        )
        result.action = "created"

    def _update(
        self, isvc: dict, storage_uri: str, canary_percent: int, model_version: str, result: RolloutResult
    ) -> None:
        predictor_patch = _with_storage_uri(isvc["spec"]["predictor"], storage_uri)
        canary = result.mode == SERVERLESS
        if canary:
            predictor_patch["canaryTrafficPercent"] = canary_percent
        # "Previous" is what to go back to: only a pinned version that took all the traffic,
        # never a canary that was not promoted (or was rolled back).
        current = result.previous_storage_uri
        annotations = {ANNOTATION_STORAGE_URI: storage_uri}
        if is_version_dir(current) and fully_rolled_out(isvc):
            annotations[ANNOTATION_PREVIOUS_URI] = current
        if model_version:
            annotations[ANNOTATION_VERSION] = str(model_version)
        self._patch(isvc, {"metadata": {"annotations": annotations}, "spec": {"predictor": predictor_patch}}, result)
        result.action, result.canary_percent = ("canary", canary_percent) if canary else ("updated", None)

    def _revert(self, before: dict, result: RolloutResult) -> None:
        """Undo deploy's patch: the storage URI, canary share and annotations as they were."""
        sent = result.patches[-1]
        old_annotations = before["metadata"].get("annotations") or {}
        predictor = _with_storage_uri(before["spec"]["predictor"], result.previous_storage_uri)
        if "canaryTrafficPercent" in sent["spec"]["predictor"]:
            predictor["canaryTrafficPercent"] = before["spec"]["predictor"].get("canaryTrafficPercent")
        annotations = {key: old_annotations.get(key) for key in sent["metadata"]["annotations"]}
        body = {"metadata": {"annotations": annotations}, "spec": {"predictor": predictor}}
        self._patch(self._require(), body, result)
        result.action = "reverted"

    def promote(self) -> RolloutResult:
        """The canary takes all traffic (RawDeployment: it already does; nothing is sent)."""
        isvc = self._require()
        result = RolloutResult(
            "promoted",
            self.namespace,
            self.name,
            storage_uri_of(isvc),
            isvc["metadata"].get("annotations", {}).get(ANNOTATION_PREVIOUS_URI, ""),
            100,
            mode=deployment_mode(isvc) or "",
        )
        if result.mode == RAW:
            result.action = "already-serving (RawDeployment has no canary)"
            return result
        self._patch(isvc, {"spec": {"predictor": {"canaryTrafficPercent": 100}}}, result)
        return result

    def rollback(self, *, restore: bool = False) -> RolloutResult:
        """All traffic back to the previous revision (canary 0); restore=True also puts the previous
        storage URI back in the spec, so the rolled-back model is what the next revision serves.
        RawDeployment has no revisions to send traffic to: there it always restores."""
        isvc = self._require()
        previous = isvc["metadata"].get("annotations", {}).get(ANNOTATION_PREVIOUS_URI, "")
        mode = deployment_mode(isvc) or ""
        result = RolloutResult("rolled-back", self.namespace, self.name, storage_uri_of(isvc), previous, 0, mode=mode)
        if mode != RAW:
            isvc = self._patch(isvc, {"spec": {"predictor": {"canaryTrafficPercent": 0}}}, result)
        if restore or mode == RAW:
            if not previous:
                raise RolloutError(
                    f"{self.namespace}/{self.name} has no {ANNOTATION_PREVIOUS_URI} "
                    f"annotation: no previous storage URI to restore"
                )
            predictor_patch = _with_storage_uri(isvc["spec"]["predictor"], previous)
            if mode != RAW:
                predictor_patch["canaryTrafficPercent"] = None  # merge patch: remove; it takes all traffic
            annotations = {ANNOTATION_PREVIOUS_URI: None, ANNOTATION_STORAGE_URI: previous}
            self._patch(
                isvc, {"metadata": {"annotations": annotations}, "spec": {"predictor": predictor_patch}}, result
            )
            result.action, result.storage_uri = "restored", previous
        return result

    def sync(self) -> RolloutResult:
        """Re-assert the storage URI the rollout last set, when something else (a client-side
        `kubectl apply` of the manifests) put another one in the spec."""
        isvc = self._require()
        wanted = isvc["metadata"].get("annotations", {}).get(ANNOTATION_STORAGE_URI, "")
        current = storage_uri_of(isvc)
        result = RolloutResult("in-sync", self.namespace, self.name, wanted or current, current)
        result.mode = deployment_mode(isvc) or ""
        if not wanted:
            raise RolloutError(
                f"{self.namespace}/{self.name} has no {ANNOTATION_STORAGE_URI} annotation: "
                "nothing deployed by tabml-rollout to re-assert (deploy a version first)"
            )
        if wanted != current:
            body = {"spec": {"predictor": _with_storage_uri(isvc["spec"]["predictor"], wanted)}}
            self._patch(isvc, body, result)
            result.action = "re-asserted"
        return result
