"""The Kubernetes API stand-in lives with the rollout library (`make loop` uses it too)."""

from rollout.standin import FakeKubernetes, Recorded, merge_patch, serverless_controller

__all__ = ["FakeKubernetes", "Recorded", "merge_patch", "serverless_controller"]
