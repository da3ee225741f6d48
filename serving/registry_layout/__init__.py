"""The model registry's layout, one definition for the Pusher (pipeline environment) and the
predictor (serving environment):

    <registry>/<model_name>/<version>/   saved_model.pb, variables/, assets/, model_metadata.json

A version counts once its model_metadata.json exists: the Pusher writes it last, so a
directory without it is a push in progress or a failed one.
"""

from __future__ import annotations

import os

import tensorflow as tf

METADATA_FILE = "model_metadata.json"


def model_base(registry: str, model_name: str) -> str:
    return os.path.join(registry, model_name)


def complete_versions(base: str) -> list[int]:
    """Numeric version directories of a model base path that hold model_metadata.json, oldest first."""
    if not tf.io.gfile.isdir(base):
        return []
    versions = []
    for name in tf.io.gfile.listdir(base):
        name = name.rstrip("/")  # object stores list directories with a trailing slash
        if name.isdigit() and tf.io.gfile.exists(os.path.join(base, name, METADATA_FILE)):
            versions.append(int(name))
    return sorted(versions)
