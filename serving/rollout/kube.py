"""Kubernetes credentials for the rollout, or a clear refusal where there are none."""

from __future__ import annotations

import os

from kubernetes import client, config

from .isvc import RolloutError

NO_CLUSTER = (
    "push.kserve is set, but this process has no way to reach a Kubernetes cluster: it is not in a "
    "cluster's pod (no KUBERNETES_SERVICE_HOST with a service-account token) and has no kube config "
    "({where}). A pipeline on Vertex AI Pipelines runs outside any GKE cluster, so its Pusher cannot "
    "deploy to KServe. Either run the pipeline on Kubeflow Pipelines in the cluster that serves the "
    "model (the `kfp` target: its pods use in-cluster credentials), or deploy with push.vertex_endpoint "
    "instead of push.kserve, or push only (drop push.kserve) and roll out from a machine with cluster "
    "access: tabml-rollout deploy --namespace NS --name NAME --storage-uri <pushed version dir>."
)


# Set in Vertex AI custom jobs, which Vertex AI Pipelines tasks are (google-cloud-aiplatform
# reads CLOUD_ML_PROJECT_ID for its default project there).
VERTEX_JOB_ENV = ("CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID")


def custom_objects_api(kubeconfig: str | None = None) -> client.CustomObjectsApi:
    """In a cluster's pod, its service account; else the kube config (`kubeconfig`, $KUBECONFIG,
    ~/.kube/config). Neither: RolloutError with the ways out (checked before anything is pushed)."""
    if any(os.environ.get(v) for v in VERTEX_JOB_ENV):
        # Whatever Kubernetes a Vertex task might see is Vertex's own, never the serving cluster.
        raise RolloutError(NO_CLUSTER.format(where=f"this is a Vertex AI job: {VERTEX_JOB_ENV[0]} is set"))
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config()
            return client.CustomObjectsApi()
        except config.ConfigException:
            pass  # a pod without a service-account token: try a kube config
    paths = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if not any(os.path.exists(p) for p in paths.split(os.pathsep) if p):
        raise RolloutError(NO_CLUSTER.format(where=f"none at {paths}"))
    # The client reads $KUBECONFIG once, at import: pass the path(s) now.
    config.load_kube_config(config_file=paths)
    return client.CustomObjectsApi()
