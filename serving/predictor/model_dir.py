"""Finding the SavedModel to serve in a registry laid out by the project's Pusher.

A path is either a version directory (`<registry>/<model_name>/<version>/`, holding
`saved_model.pb`) or a model base path (`<registry>/<model_name>/`): then the highest numeric
version that holds `model_metadata.json` is served. The Pusher writes that file last, so a
version without it is incomplete (a push in progress, or a failed one) and is skipped, the
rule both sides take from `contracts.registry`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import tensorflow as tf

from contracts.registry import METADATA_FILE, complete_versions

SAVED_MODEL_FILE = "saved_model.pb"


class ModelDirError(Exception):
    """No servable SavedModel at the given path (the message names the path)."""


@dataclass
class ResolvedModel:
    path: str  # the version directory that holds saved_model.pb
    version: str  # its name ("1795336860"), or "" when not numeric
    metadata: dict = field(default_factory=dict)  # model_metadata.json, {} when absent


def _read_json(path: str) -> dict:
    with tf.io.gfile.GFile(path, "r") as f:
        return json.loads(f.read())


def resolve(path: str) -> ResolvedModel:
    """The version directory to serve for `path` (a version dir or a model base path)."""
    path = path.rstrip("/") or "/"
    if tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE)):
        name = os.path.basename(path)
        meta_path = os.path.join(path, METADATA_FILE)
        metadata = _read_json(meta_path) if tf.io.gfile.exists(meta_path) else {}
        version = str(metadata.get("version", name if name.isdigit() else ""))
        return ResolvedModel(path, version, metadata)
    if not tf.io.gfile.isdir(path):
        raise ModelDirError(f"model path {path} does not exist")
    versions = complete_versions(path)
    if not versions:
        raise ModelDirError(
            f"no servable model under {path}: it holds no {SAVED_MODEL_FILE} and no numeric "
            f"version directory with {METADATA_FILE}"
        )
    chosen = os.path.join(path, str(versions[-1]))
    if not tf.io.gfile.exists(os.path.join(chosen, SAVED_MODEL_FILE)):
        raise ModelDirError(f"version directory {chosen} has no {SAVED_MODEL_FILE}")
    return ResolvedModel(chosen, str(versions[-1]), _read_json(os.path.join(chosen, METADATA_FILE)))
