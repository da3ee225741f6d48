"""Deploy a pushed model version to a KServe InferenceService with canary traffic; promote or
roll it back.

How KServe (v1beta1) does canaries: when the predictor spec changes and
`spec.predictor.canaryTrafficPercent` is set, the new revision gets that share of the traffic
and the last revision that was fully rolled out keeps the rest. So:
  deploy(uri, 10)  -> patch the model's storage URI and canaryTrafficPercent: 10
                      (on a first create there is nothing to split with: no canary field)
  promote()        -> canaryTrafficPercent: 100 (the new revision takes all traffic)
  rollback()       -> canaryTrafficPercent: 0: all traffic back on the previous revision at
                      once (no new pods); with restore=True, then also the previous storage URI
                      (kept in an annotation by deploy), so the next revision is the old model.

The storage URI lives in `spec.predictor.model.storageUri` (a ServingRuntime such as TF
Serving) or in the STORAGE_URI env var of the first container (the custom predictor,
serving/manifests/base/inferenceservice-custom.yaml). For a canary the URI must change per
push, so deploy a *version* directory (`<registry>/<model>/<version>`): the custom predictor
serves a version directory as it is. (KServe's TF Serving runtime needs a base path with
numeric version directories; with the base path it hot-swaps to the newest version itself,
without a canary.)

All changes are JSON merge patches (`application/merge-patch+json`, the client's default for
custom objects) that carry metadata.resourceVersion, so a concurrent change makes the API
server answer 409 instead of being overwritten.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
ANNOTATION_PREVIOUS_URI = "tabml.dev/previous-storage-uri"
ANNOTATION_VERSION = "tabml.dev/model-version"
STORAGE_ENV = "STORAGE_URI"


class RolloutError(Exception):
    """A rollout step that cannot be done (the message says why)."""


@dataclass
class RolloutResult:
    action: str  # created | canary | unchanged | promoted | rolled-back | ...
    namespace: str
    name: str
    storage_uri: str = ""
    previous_storage_uri: str = ""
    canary_percent: int | None = None
    patches: list[dict] = field(default_factory=list)  # the bodies sent, in order


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
    def __init__(self, api: client.CustomObjectsApi, namespace: str, name: str):
        self.api, self.namespace, self.name = api, namespace, name

    # -- API calls ---------------------------------------------------------------------------
    def get(self) -> dict | None:
        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

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
        return self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name, body)

    # -- operations --------------------------------------------------------------------------
    def deploy(
        self, storage_uri: str, canary_percent: int, *, model_version: str = "", template: dict | None = None
    ) -> RolloutResult:
        """Serve `storage_uri`; when a model is already served, as a canary of canary_percent."""
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
            if model_version:
                body["metadata"].setdefault("annotations", {})[ANNOTATION_VERSION] = str(model_version)
            result.patches.append(body)
            self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
            result.action = "created"
            return result
        current = storage_uri_of(isvc)
        result.previous_storage_uri = current
        if current == storage_uri:
            result.action = "unchanged"
            return result
        predictor_patch = _with_storage_uri(isvc["spec"]["predictor"], storage_uri)
        predictor_patch["canaryTrafficPercent"] = canary_percent
        # "Previous" is what to go back to: only a pinned version that took all the traffic,
        # never a canary that was not promoted (or was rolled back).
        annotations = {}
        if is_version_dir(current) and fully_rolled_out(isvc):
            annotations[ANNOTATION_PREVIOUS_URI] = current
        if model_version:
            annotations[ANNOTATION_VERSION] = str(model_version)
        self._patch(isvc, {"metadata": {"annotations": annotations}, "spec": {"predictor": predictor_patch}}, result)
        result.action, result.canary_percent = "canary", canary_percent
        return result

    def promote(self) -> RolloutResult:
        """The canary takes all traffic."""
        isvc = self._require()
        result = RolloutResult(
            "promoted",
            self.namespace,
            self.name,
            storage_uri_of(isvc),
            isvc["metadata"].get("annotations", {}).get(ANNOTATION_PREVIOUS_URI, ""),
            100,
        )
        self._patch(isvc, {"spec": {"predictor": {"canaryTrafficPercent": 100}}}, result)
        return result

    def rollback(self, *, restore: bool = False) -> RolloutResult:
        """All traffic back to the previous revision (canary 0); restore=True also puts the previous
        storage URI back in the spec, so the rolled-back model is what the next revision serves."""
        isvc = self._require()
        previous = isvc["metadata"].get("annotations", {}).get(ANNOTATION_PREVIOUS_URI, "")
        result = RolloutResult("rolled-back", self.namespace, self.name, storage_uri_of(isvc), previous, 0)
        isvc = self._patch(isvc, {"spec": {"predictor": {"canaryTrafficPercent": 0}}}, result)
        if restore:
            if not previous:
                raise RolloutError(
                    f"{self.namespace}/{self.name} has no {ANNOTATION_PREVIOUS_URI} "
                    f"annotation: no previous storage URI to restore"
                )
            predictor_patch = _with_storage_uri(isvc["spec"]["predictor"], previous)
            predictor_patch["canaryTrafficPercent"] = None  # merge patch: remove; it takes all traffic
            self._patch(
                isvc,
                {"metadata": {"annotations": {ANNOTATION_PREVIOUS_URI: None}}, "spec": {"predictor": predictor_patch}},
                result,
            )
            result.action, result.storage_uri = "restored", previous
        return result
