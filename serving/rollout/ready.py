"""Is an InferenceService serving the model it was just given? KServe 0.15 says so differently
per deployment mode (pkg/apis/serving/v1beta1/inference_service_status.go):

Serverless (Knative): each spec change is a new revision. The new model is up when
  status.components.predictor.latestCreatedRevision is a new one, latestReadyRevision equals
  it, and the PredictorReady condition is True; a False PredictorReady /
  PredictorConfigurationReady / LatestDeploymentReady (Knative's RevisionFailed, ...) is a
  failed revision.
RawDeployment: no revisions. PredictorReady is the Deployment's `Available` condition, which
  stays True on the OLD pods during a rolling update, and status.observedGeneration is the
  Deployment's, not the InferenceService's: neither tells that the new model is up. So the
  Deployment `<name>-predictor` is read, as `kubectl rollout status` does: its pod template
  names the new storage URI (KServe has reconciled the change), its observedGeneration is
  current, every replica is updated and available, and no old one is left;
  Progressing=False with ProgressDeadlineExceeded is a failure. PredictorReady=False is not:
  a new Deployment is Available=False until its first pod is up.
In both, a FailedToLoad model state (status.modelStatus, the storage initializer or the
model server crashed) is a failure.

kserve.KServeClient.is_isvc_ready / wait_isvc_ready are not used: they read the `Ready`
condition only, which is True while the old revision or the old pods serve (so they would
pass a canary that never came up), and kserve is not installed in the pipeline env, where
the Pusher runs this.
"""

from __future__ import annotations

from dataclasses import dataclass

MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
SERVERLESS, RAW = "Serverless", "RawDeployment"
STORAGE_ENV = "STORAGE_URI"
SOURCE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
FAILURE_CONDITIONS = ("PredictorReady", "PredictorConfigurationReady", "LatestDeploymentReady")


@dataclass
class Readiness:
    ready: bool = False
    failed: bool = False
    detail: str = ""  # what is awaited or what failed: condition types, reasons, messages


def deployment_mode(isvc: dict) -> str | None:
    """The object's own annotation, else what the controller recorded (the cluster default)."""
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    return annotations.get(MODE_ANNOTATION) or (isvc.get("status") or {}).get("deploymentMode")


def _conditions(status: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in status.get("conditions") or []}


def _describe(condition: dict) -> str:
    text = f"{condition.get('type')}={condition.get('status')}"
    why = ": ".join(s for s in (condition.get("reason"), condition.get("message")) if s)
    return f"{text} ({why})" if why else text


def _failures(isvc: dict, failure_conditions: tuple[str, ...] = FAILURE_CONDITIONS) -> list[str]:
    status = isvc.get("status") or {}
    conditions = _conditions(status)
    found = [_describe(conditions[t]) for t in failure_conditions if conditions.get(t, {}).get("status") == "False"]
    model = status.get("modelStatus") or {}
    states = model.get("states") or {}
    if "FailedToLoad" in (states.get("activeModelState"), states.get("targetModelState")) or model.get(
        "transitionStatus"
    ) in ("BlockedByFailedLoad", "InvalidSpec"):
        info = model.get("lastFailureInfo") or {}
        found.append(
            f"modelStatus {model.get('transitionStatus', '')}/{states.get('targetModelState', '')} "
            f"({info.get('reason', '')}: {info.get('message', '')})"
        )
    return found


def latest_created_revision(isvc: dict) -> str:
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    return predictor.get("latestCreatedRevision") or ""


def serverless_readiness(isvc: dict, revision_before: str) -> Readiness:
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    created, ready = predictor.get("latestCreatedRevision") or "", predictor.get("latestReadyRevision") or ""
    if not created or created == revision_before:
        return Readiness(detail=f"waiting for KServe to create a new revision (latest: {revision_before or 'none'})")
    failures = _failures(isvc)
    if failures:
        return Readiness(failed=True, detail=f"revision {created}: " + "; ".join(failures))
    predictor_ready = _conditions(isvc.get("status") or {}).get("PredictorReady", {})
    if ready == created and predictor_ready.get("status") == "True":
        return Readiness(ready=True, detail=f"revision {created} is ready")
    return Readiness(
        detail=f"revision {created} not ready (latestReadyRevision {ready or 'none'}, {_describe(predictor_ready)})"
        if predictor_ready
        else f"revision {created} not ready (latestReadyRevision {ready or 'none'})"
    )


def _template_uri(deployment: dict) -> str:
    template = (deployment.get("spec") or {}).get("template") or {}
    uri = ((template.get("metadata") or {}).get("annotations") or {}).get(SOURCE_URI_ANNOTATION, "")
    for container in (template.get("spec") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == STORAGE_ENV:
                uri = env.get("value", "")
    return uri


def raw_readiness(isvc: dict, deployment: dict | None, storage_uri: str) -> Readiness:
    if deployment is None:
        return Readiness(detail="waiting for KServe to create the predictor Deployment")
    name = deployment["metadata"]["name"]
    if _template_uri(deployment) != storage_uri:
        return Readiness(detail=f"waiting for KServe to put {storage_uri} in Deployment {name}")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    progressing = _conditions(status).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(failed=True, detail=f"Deployment {name}: {_describe(progressing)}")
    # Not PredictorReady=False: in RawDeployment it is the Deployment's Available condition,
    # False on a new Deployment until its first pod is up (pulling the image takes a while).
    failures = _failures(isvc, failure_conditions=())
    if failures:
        return Readiness(failed=True, detail=f"Deployment {name}: " + "; ".join(failures))
    if (status.get("observedGeneration") or 0) < (deployment["metadata"].get("generation") or 0):
        return Readiness(detail=f"Deployment {name}: the controller has not observed the new generation")
    wanted = spec.get("replicas", 1)
    updated, total = status.get("updatedReplicas") or 0, status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < wanted:
        return Readiness(detail=f"Deployment {name}: {updated} of {wanted} replicas run the new model")
    if total > updated:
        return Readiness(detail=f"Deployment {name}: {total - updated} old replicas still running")
    if available < updated:
        return Readiness(detail=f"Deployment {name}: {available} of {updated} new replicas available")
    return Readiness(ready=True, detail=f"Deployment {name}: {updated} replicas of the new model available")
