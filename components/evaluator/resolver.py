"""Resolver: the latest blessed model in the registry, the baseline a candidate is judged against
(TFX's LatestBlessedModelStrategy, read from this project's registry layout).

Only blessed models are ever pushed, and only complete versions (with model_metadata.json)
are listed, so the latest complete version is the latest blessed one. Plain Python: kfp.local
has no importer/resolver node semantics to rely on, so the Evaluator calls this itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf

from components.common.io import log


@dataclass
class Baseline:
    version: int
    path: str  # the version directory: a SavedModel with serving_default
    metadata: dict


def latest_blessed_model(registry: str | None, model_name: str) -> Baseline | None:
    """The newest complete version under <registry>/<model_name>/, or None (no registry given,
    no such directory, or no complete version yet: a first run)."""
    # Imported here: the Pusher's executor imports the Evaluator's (is_blessed).
    from components.pusher.executor import latest_version, model_base

    if not registry:
        return None
    found = latest_version(registry, model_name)
    if found is None:
        log.info("Resolver: no blessed %s in %s; judging by value thresholds alone", model_name, registry)
        return None
    version, metadata = found
    path = os.path.join(model_base(registry, model_name), str(version))
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"registry version {path} has model_metadata.json but no saved_model.pb")
    log.info("Resolver: baseline %s version %d (%s)", model_name, version, path)
    return Baseline(version, path, metadata)
