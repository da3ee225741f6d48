"""Pusher: ships a blessed model into a versioned registry, atomically; pushes nothing
otherwise and says why.

Registry layout (what TF Serving and KServe's TF Serving runtime read as a model base path):
    <registry>/<model_name>/<version>/saved_model.pb, variables/, assets/, model_metadata.json
Versions are integer timestamps (seconds), as TFX's Pusher names them.

Atomicity: on a local filesystem the model is staged in a hidden sibling directory and
renamed into place, so a version directory is either complete or absent. Object stores
(gs://) have no rename: files are copied with saved_model.pb and then model_metadata.json
last, a failed copy removes the version directory, and this project's readers
(`list_versions`, `latest_version`) only count versions whose model_metadata.json exists.
A model server polling gs:// could still see a version directory while it is being
written; that is the limit of atomicity on an object store.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass

import tensorflow as tf

from components.common.io import log, read_json, write_json
from components.evaluator.executor import is_blessed
from pipelines.config import PipelineConfig
from registry_layout import METADATA_FILE, complete_versions, model_base  # noqa: F401 (re-exported)


@dataclass
class PushResult:
    pushed: bool
    reason: str
    version: int | None = None
    destination: str | None = None
    metadata: dict | None = None
    kserve: dict | None = None  # the InferenceService rollout, when push.kserve is configured
    vertex_endpoint: dict | None = None  # the Vertex deployment, when push.vertex_endpoint is configured


def kube_custom_objects_api():
    """Kubernetes credentials from the usual places: the pod's service account on a
    cluster, else the kube config (KUBECONFIG / ~/.kube/config)."""
    from kubernetes import client, config

    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        # The client reads KUBECONFIG once, at import; read it now.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    return client.CustomObjectsApi()


def deploy_to_kserve(config: PipelineConfig, destination: str, version: int) -> dict:
    """Points the InferenceService at the pushed version, as a canary when one is served."""
    import yaml
    from rollout import IsvcRollout

    target = config.push.kserve
    template = None
    if target.template:
        with tf.io.gfile.GFile(target.template) as f:
            template = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "InferenceService")
    rollout = IsvcRollout(kube_custom_objects_api(), target.namespace, target.name)
    result = rollout.deploy(destination, target.canary_percent, model_version=str(version), template=template)
    log.info("Pusher: InferenceService %s/%s %s (canary %s%%) -> %s", target.namespace, target.name,
             result.action, result.canary_percent, destination)
    return asdict(result)


def file_sha256(path: str) -> str:
    with tf.io.gfile.GFile(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def list_versions(registry: str, model_name: str) -> list[int]:
    """Complete versions (those with model_metadata.json), oldest first."""
    return complete_versions(model_base(registry, model_name))


def latest_version(registry: str, model_name: str) -> tuple[int, dict] | None:
    versions = list_versions(registry, model_name)
    if not versions:
        return None
    path = os.path.join(model_base(registry, model_name), str(versions[-1]), METADATA_FILE)
    return versions[-1], read_json(path)


def _next_version(base: str) -> int:
    taken = set()
    if tf.io.gfile.isdir(base):
        taken = {int(n.rstrip("/")) for n in tf.io.gfile.listdir(base) if n.rstrip("/").isdigit()}
    # Model servers serve the highest version: never go below one already there (clock skew).
    return max([int(time.time())] + [t + 1 for t in taken])


def _copy_tree_gfile(src: str, dst: str, last: tuple[str, ...]) -> None:
    """Copies src into dst; the files named in `last` (relative paths) go in that order at the end."""
    deferred = []
    for root, _, files in tf.io.gfile.walk(src):
        rel_root = os.path.relpath(root, src)
        for name in files:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel in last:
                deferred.append(rel)
                continue
            tf.io.gfile.makedirs(os.path.dirname(os.path.join(dst, rel)))
            tf.io.gfile.copy(os.path.join(src, rel), os.path.join(dst, rel), overwrite=True)
    for rel in sorted(deferred, key=last.index):
        tf.io.gfile.copy(os.path.join(src, rel), os.path.join(dst, rel), overwrite=True)


def _push_local(serving_model_dir: str, base: str, metadata: dict, attempts: int = 5) -> tuple[int, str]:
    os.makedirs(base, exist_ok=True)
    staging = os.path.join(base, f".staging-{uuid.uuid4().hex}")
    try:
        shutil.copytree(serving_model_dir, staging)
        for _ in range(attempts):
            version = _next_version(base)
            final = os.path.join(base, str(version))
            write_json(os.path.join(staging, METADATA_FILE), metadata | {"version": version})
            try:
                os.rename(staging, final)  # atomic; fails rather than merge if `final` exists
                return version, final
            except OSError:
                if not os.path.isdir(final):
                    raise
                # Another push took this version in the meantime: take the next one.
        raise RuntimeError(f"could not claim a new version under {base} after {attempts} attempts")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _push_object_store(serving_model_dir: str, base: str, metadata: dict) -> tuple[int, str]:
    version = _next_version(base)
    final = os.path.join(base, str(version))
    try:
        _copy_tree_gfile(serving_model_dir, final, last=("saved_model.pb",))
        write_json(os.path.join(final, METADATA_FILE), metadata | {"version": version})
    except Exception:
        # Leave no numbered directory behind: a model server would try to load it.
        if tf.io.gfile.exists(final):
            tf.io.gfile.rmtree(final)
        raise
    return version, final


def push_model(serving_model_dir: str, registry: str, model_name: str, metadata: dict) -> tuple[int, str]:
    if not tf.io.gfile.exists(os.path.join(serving_model_dir, "saved_model.pb")):
        raise FileNotFoundError(f"no SavedModel to push in {serving_model_dir}")
    base = model_base(registry, model_name)
    if "://" not in registry:
        return _push_local(serving_model_dir, base, metadata)
    return _push_object_store(serving_model_dir, base, metadata)


def run(config: PipelineConfig, serving_model_dir: str, blessing_dir: str, schema_file: str,
        output_dir: str, data_source: str | None = None, registry: str | None = None,
        git_commit: str = "") -> PushResult:
    registry = registry or config.push.registry
    blessing = read_json(os.path.join(blessing_dir, "blessing.json"))
    if not is_blessed(blessing_dir):
        reasons = "; ".join(blessing.get("reasons", [])) or "the Evaluator did not bless the model"
        result = PushResult(pushed=False, reason=f"not blessed: {reasons}")
        log.warning("Pusher: pushing nothing: %s", result.reason)
    else:
        metadata = {
            "model_name": config.model_name,
            "pushed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "metrics": blessing["overall_metrics"],
            "checks": blessing["checks"],
            "change_checks": blessing.get("change_checks", []),
            "fairness_check": blessing.get("fairness_check"),
            "baseline_version": (blessing.get("baseline") or {}).get("version"),
            "data_source": data_source or config.data.source,
            "schema_sha256": file_sha256(schema_file),
            "config_sha256": config.fingerprint(),
            "git_commit": git_commit or None,
        }
        version, destination = push_model(serving_model_dir, registry, config.model_name, metadata)
        result = PushResult(pushed=True, reason="blessed", version=version, destination=destination,
                            metadata=metadata | {"version": version})
        log.info("Pusher: pushed version %d to %s", version, destination)
        if config.push.kserve:
            # The version is in the registry either way; a failed rollout fails the step so
            # the run shows it, and `taxi-pipeline rollback` / a re-run can follow.
            result.kserve = deploy_to_kserve(config, destination, version)
        if config.push.vertex_endpoint:
            from components.pusher.vertex_endpoint import deploy_to_vertex_endpoint

            result.vertex_endpoint = deploy_to_vertex_endpoint(config.push.vertex_endpoint, destination, version,
                                                               config.model_name)
    tf.io.gfile.makedirs(output_dir)
    write_json(os.path.join(output_dir, "push_result.json"), asdict(result))
    return result
