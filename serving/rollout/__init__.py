"""Rollout, readiness wait, promote and rollback of a KServe InferenceService (Kubernetes Python
client).

Self-contained (the `kubernetes` client and the standard library only), so the Pusher in the
pipeline env (kubernetes 30) and the serving env (kubernetes 37) can both import it.
"""

from .isvc import (
    ANNOTATION_PREVIOUS_URI,
    ANNOTATION_STORAGE_URI,
    ANNOTATION_VERSION,
    FIELD_MANAGER,
    IsvcRollout,
    RolloutError,
    RolloutResult,
    metrics_annotations,
    storage_uri_of,
)
from .kube import custom_objects_api

__all__ = [
    "ANNOTATION_PREVIOUS_URI",
    "ANNOTATION_STORAGE_URI",
    "ANNOTATION_VERSION",
    "FIELD_MANAGER",
    "IsvcRollout",
    "RolloutError",
    "RolloutResult",
    "custom_objects_api",
    "metrics_annotations",
    "storage_uri_of",
]
