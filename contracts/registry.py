"""The model registry's layout, one definition for the Pusher, the Evaluator's baseline
resolver and the predictor (serving environment):

    <registry>/<model_name>/<version>/   saved_model.pb, variables/, assets/,
                                         model_metadata.json, training_stats/FeatureStats.pb,
                                         schema/schema.pbtxt

Versions are integer Unix seconds, as TFX's Pusher names them. A version counts once its
model_metadata.json exists: the Pusher writes it last, so a directory without it is a push in
progress or a failed one. Only blessed models are pushed, so the newest complete version is
the latest blessed model.

A registry must outlive the step that writes it: inside a cluster pod a local path is the
pod's own disk, so every reader and writer refuses one there (`checked_registry`).
"""

from __future__ import annotations

import json
import os
import types
from dataclasses import dataclass

METADATA_FILE = "model_metadata.json"
# The metadata key holding the digest of the SavedModel's files: a push of the same model finds it.
MODEL_SHA256 = "model_sha256"
# The train split's TFDV statistics the version was trained on (later runs compare to them).
TRAINING_STATS = os.path.join("training_stats", "FeatureStats.pb")
# The TFDV schema the version was trained with (text format): the predictor checks requests
# against its domains. Versions pushed before it was added have none.
TRAINING_SCHEMA = os.path.join("schema", "schema.pbtxt")
# Set in a KFP step's container (KFP's Argo compiler) / in a Vertex CustomJob (a Vertex
# Pipelines step). Not KUBERNETES_SERVICE_HOST: a Kubeflow notebook has it, and a local run
# there may well use a directory on its persistent volume.
CLUSTER_ENV = ("KFP_POD_NAME", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID")


class RegistryError(ValueError):
    """A model registry that cannot be used where the step runs; says which and what to set."""


def in_cluster_pod() -> bool:
    return any(os.environ.get(name) for name in CLUSTER_ENV)


def checked_registry(registry: str) -> str:
    """The registry, refused when it would be lost: empty, or a local path inside a cluster pod."""
    fix = "set the model_registry run parameter, or cloud.model_registry in the config and compile again"
    if not registry:
        raise RegistryError(f"no model registry given: {fix}")
    if "://" not in registry and in_cluster_pod():
        raise RegistryError(
            f"the model registry {registry!r} is a local path inside a cluster pod, whose disk is gone when the "
            f"step ends: {fix} (gs://BUCKET/models)"
        )
    return registry


def model_base(registry: str, model_name: str) -> str:
    return os.path.join(registry, model_name)


def version_dir(registry: str, model_name: str, version: int) -> str:
    return os.path.join(model_base(registry, model_name), str(version))


def complete_versions(base: str) -> list[int]:
    """Numeric version directories of a model base path that hold model_metadata.json, oldest first."""
    fs = _files(base)
    if not fs.isdir(base):
        return []
    versions = []
    for name in fs.listdir(base):
        name = name.rstrip("/")  # object stores list directories with a trailing slash
        if name.isdigit() and fs.exists(os.path.join(base, name, METADATA_FILE)):
            versions.append(int(name))
    return sorted(versions)


@dataclass(frozen=True)
class RegistryVersion:
    version: int
    path: str  # the version directory: a SavedModel with the project's signatures
    metadata: dict  # model_metadata.json


def read_metadata(path: str) -> dict:
    with _files(path).GFile(os.path.join(path, METADATA_FILE)) as f:
        return json.load(f)


def _files(path: str):
    """tf.io.gfile for a remote path; os for a local one, which then needs no TensorFlow (seconds to import)."""
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile
    return types.SimpleNamespace(
        isdir=os.path.isdir, listdir=os.listdir, exists=os.path.exists, GFile=lambda p: open(p, encoding="utf-8")
    )


def latest_version(registry: str | None, model_name: str) -> RegistryVersion | None:
    """The newest complete version, or None (no registry given, nothing pushed yet)."""
    if not registry:
        return None
    versions = complete_versions(model_base(checked_registry(registry), model_name))
    if not versions:
        return None
    path = version_dir(registry, model_name, versions[-1])
    return RegistryVersion(versions[-1], path, read_metadata(path))


def find_version(registry: str, model_name: str, model_sha256: str) -> RegistryVersion | None:
    """The newest complete version holding the model with this digest, or None."""
    for version in reversed(complete_versions(model_base(registry, model_name))):
        path = version_dir(registry, model_name, version)
        metadata = read_metadata(path)
        if metadata.get(MODEL_SHA256) == model_sha256:
            return RegistryVersion(version, path, metadata)
    return None
