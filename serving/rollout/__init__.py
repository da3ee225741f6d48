"""Canary rollout, promote and rollback of a KServe InferenceService (Kubernetes Python client).

Self-contained (the `kubernetes` client and the standard library only), so the Pusher in the
pipeline env (kubernetes 30) and the serving env (kubernetes 37) can both import it.
"""

from .isvc import ANNOTATION_PREVIOUS_URI, ANNOTATION_VERSION, IsvcRollout, RolloutError, RolloutResult, storage_uri_of

__all__ = [
    "ANNOTATION_PREVIOUS_URI",
    "ANNOTATION_VERSION",
    "IsvcRollout",
    "RolloutError",
    "RolloutResult",
    "storage_uri_of",
]
