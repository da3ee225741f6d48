"""The model registry's layout, one definition for the Pusher, the Evaluator's baseline
resolver and the predictor (serving environment):

    <registry>/<model_name>/<version>/   saved_model.pb, variables/, assets/,
                                         model_metadata.json, training_stats/FeatureStats.pb

Versions are integer Unix seconds, as TFX's Pusher names them. A version counts once its
model_metadata.json exists: the Pusher writes it last, so a directory without it is a push in
progress or a failed one. Only blessed models are pushed, so the newest complete version is
the latest blessed model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

METADATA_FILE = "model_metadata.json"
# The train split's TFDV statistics the version was trained on (later runs compare to them).
TRAINING_STATS = os.path.join("training_stats", "FeatureStats.pb")


def model_base(registry: str, model_name: str) -> str:
    return os.path.join(registry, model_name)


def version_dir(registry: str, model_name: str, version: int) -> str:
    return os.path.join(model_base(registry, model_name), str(version))


def complete_versions(base: str) -> list[int]:
    """Numeric version directories of a model base path that hold model_metadata.json, oldest first."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(base):
        return []
    versions = []
    for name in tf.io.gfile.listdir(base):
        name = name.rstrip("/")  # object stores list directories with a trailing slash
        if name.isdigit() and tf.io.gfile.exists(os.path.join(base, name, METADATA_FILE)):
            versions.append(int(name))
    return sorted(versions)


@dataclass(frozen=True)
class RegistryVersion:
    version: int
    path: str  # the version directory: a SavedModel with the project's signatures
    metadata: dict  # model_metadata.json


def read_metadata(path: str) -> dict:
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(path, METADATA_FILE)) as f:
        return json.load(f)


def latest_version(registry: str | None, model_name: str) -> RegistryVersion | None:
    """The newest complete version, or None (no registry given, nothing pushed yet)."""
    if not registry:
        return None
    versions = complete_versions(model_base(registry, model_name))
    if not versions:
        return None
    path = version_dir(registry, model_name, versions[-1])
    return RegistryVersion(versions[-1], path, read_metadata(path))
