"""Pusher: ships a blessed model into a versioned registry, atomically; pushes nothing
otherwise and says why.

Registry layout (what TF Serving and KServe's TF Serving runtime read as a model base path):
    <registry>/<model_name>/<version>/saved_model.pb, variables/, assets/, model_metadata.json,
                                      training_stats/FeatureStats.pb, schema/schema.pbtxt
(contracts/registry.py). Versions are integer timestamps (seconds), as TFX's Pusher names them.

Atomicity: on a local filesystem the model is staged in a hidden sibling directory and
renamed into place, so a version directory is either complete or absent. Object stores
(gs://) have no rename: files are copied with saved_model.pb and then model_metadata.json
last, a failed copy removes the version directory, and this project's readers
(`list_versions`, `latest_version`) only count versions whose model_metadata.json exists.
A model server polling gs:// could still see a version directory while it is being
written; that is the limit of atomicity on an object store.

Idempotence: model_metadata.json records the digest of the SavedModel's files. A push of a
model the registry already holds (a retried Pusher whose KServe/Vertex rollout failed) writes
nothing and deploys that version again.

Inside a cluster pod a local registry is refused (contracts.registry.checked_registry): it
would be the pod's own disk.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass

from components.common.io import file_sha256, gfile, log, read_json, write_json
from contracts.artifacts import (
    BLESSING_JSON,
    PUSH_RESULT,
    is_blessed,
    schema_path,
    serving_model_dir,
    stats_path,
)
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.registry import (
    METADATA_FILE,
    MODEL_SHA256,
    TRAINING_SCHEMA,
    TRAINING_STATS,
    checked_registry,
    find_version,
    model_base,
    read_metadata,
)


@dataclass(frozen=True)
class Inputs:
    model: str  # the Model artifact (Format-Serving inside)
    blessing: str
    schema: str
    statistics: str = ""  # the train split's statistics go into the registry with the model
    model_registry: str = ""  # overrides push.registry (a pipeline parameter)
    git_commit: str = ""
    run_reason: str = ""  # why the run was started (a retrain trigger's reasons)


@dataclass(frozen=True)
class Outputs:
    pushed_model: str


@dataclass
class PushResult(ExecutorResult):
    pushed: bool
    reason: str
    version: int | None = None
    destination: str | None = None
    metadata: dict | None = None
    kserve: dict | None = None  # the InferenceService rollout, when push.kserve is configured
    vertex_endpoint: dict | None = None  # the Vertex deployment, when push.vertex_endpoint is configured


def kube_custom_objects_api():
    """Kubernetes credentials: the pod's service account on a cluster, else the kube config
    (KUBECONFIG / ~/.kube/config); neither (a Vertex AI Pipelines task) raises RolloutError
    saying which targets can reach a cluster."""
    from rollout import custom_objects_api

    return custom_objects_api()


def deploy_to_kserve(config: PipelineConfig, destination: str, version: int) -> dict:
    """Points the InferenceService at the pushed version (a canary in Serverless mode) and
    waits until it serves; a failed or timed-out rollout is reverted and fails the step."""
    import yaml

    from rollout import IsvcRollout

    target = config.push.kserve
    template = None
    if target.template:
        with gfile(target.template).GFile(target.template) as f:
            template = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "InferenceService")
    rollout = IsvcRollout(kube_custom_objects_api(), target.namespace, target.name)
    result = rollout.deploy(
        destination,
        target.canary_percent,
        model_version=str(version),
        template=template,
        ready_timeout_s=target.ready_timeout_s,
    )
    log.info(
        "Pusher: InferenceService %s/%s (%s) %s (canary %s%%) -> %s: %s",
        target.namespace,
        target.name,
        result.mode or "mode unknown",
        result.action,
        result.canary_percent,
        destination,
        result.ready,
    )
    return asdict(result)


@dataclass(frozen=True)
class Pushed:
    version: int
    destination: str  # the version directory
    existing: bool  # the registry held this model already: nothing was written


def model_digest(model_dir: str) -> str:
    """sha256 over the relative path and content of every file of a directory (local or gs://)."""
    digest = hashlib.sha256()
    entries = []
    for root, _, files in gfile(model_dir).walk(model_dir):
        entries += [os.path.normpath(os.path.join(os.path.relpath(root, model_dir), name)) for name in files]
    for rel in sorted(entries):
        digest.update(f"{rel}\0{file_sha256(os.path.join(model_dir, rel))}\n".encode())
    return digest.hexdigest()


def _next_version(base: str) -> int:
    taken = set()
    fs = gfile(base)
    if fs.isdir(base):
        taken = {int(n.rstrip("/")) for n in fs.listdir(base) if n.rstrip("/").isdigit()}
    # Model servers serve the highest version: never go below one already there (clock skew).
    return max([int(time.time())] + [t + 1 for t in taken])


def _copy_tree_gfile(src: str, dst: str, last: tuple[str, ...]) -> None:
    """Copies src into dst; the files named in `last` (relative paths) go in that order at the end."""
    fs = gfile(src, dst)
    deferred = []
    for root, _, files in fs.walk(src):
        rel_root = os.path.relpath(root, src)
        for name in files:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel in last:
                deferred.append(rel)
                continue
            fs.makedirs(os.path.dirname(os.path.join(dst, rel)))
            fs.copy(os.path.join(src, rel), os.path.join(dst, rel), overwrite=True)
    for rel in sorted(deferred, key=last.index):
        fs.copy(os.path.join(src, rel), os.path.join(dst, rel), overwrite=True)


def _push_local(
    serving_model_dir: str, base: str, metadata: dict, extra: dict[str, str], attempts: int = 5
) -> tuple[int, str]:
    os.makedirs(base, exist_ok=True)
    staging = os.path.join(base, f".staging-{uuid.uuid4().hex}")
    try:
        shutil.copytree(serving_model_dir, staging)
        for rel, src in extra.items():
            os.makedirs(os.path.dirname(os.path.join(staging, rel)), exist_ok=True)
            gfile(src).copy(src, os.path.join(staging, rel), overwrite=True)
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


def _push_object_store(serving_model_dir: str, base: str, metadata: dict, extra: dict[str, str]) -> tuple[int, str]:
    version = _next_version(base)
    final = os.path.join(base, str(version))
    fs = gfile(final)
    try:
        for rel, src in extra.items():
            fs.makedirs(os.path.dirname(os.path.join(final, rel)))
            fs.copy(src, os.path.join(final, rel), overwrite=True)
        _copy_tree_gfile(serving_model_dir, final, last=("saved_model.pb",))
        write_json(os.path.join(final, METADATA_FILE), metadata | {"version": version})
    except Exception:
        # Leave no numbered directory behind: a model server would try to load it.
        if fs.exists(final):
            fs.rmtree(final)
        raise
    return version, final


def push_model(
    serving_model_dir: str, registry: str, model_name: str, metadata: dict, extra: dict[str, str] | None = None
) -> Pushed:
    """extra: files to push beside the SavedModel, {path in the version dir: source}.
    A model the registry holds already (same digest) is not pushed again."""
    if not gfile(serving_model_dir).exists(os.path.join(serving_model_dir, "saved_model.pb")):
        raise FileNotFoundError(f"no SavedModel to push in {serving_model_dir}")
    digest = model_digest(serving_model_dir)
    found = find_version(registry, model_name, digest)
    if found:
        return Pushed(found.version, found.path, existing=True)
    base = model_base(registry, model_name)
    push = _push_local if "://" not in registry else _push_object_store
    version, destination = push(serving_model_dir, base, metadata | {MODEL_SHA256: digest}, extra or {})
    return Pushed(version, destination, existing=False)


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> PushResult:
    registry = checked_registry(inputs.model_registry or config.push.registry)
    blessing = read_json(os.path.join(inputs.blessing, BLESSING_JSON))
    if not is_blessed(inputs.blessing):
        reasons = "; ".join(blessing.get("reasons", [])) or "the Evaluator did not bless the model"
        result = PushResult(pushed=False, reason=f"not blessed: {reasons}")
        log.warning("Pusher: pushing nothing: %s", result.reason)
    else:
        metadata = {
            "model_name": config.model_name,
            "pushed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "task": config.label.task,
            "label": blessing.get("label"),
            # What the label means: a later candidate is compared with this model only if it is the same.
            "label_spec": config.label.model_dump(mode="json", exclude={"unit", "missing"}),
            "metrics": blessing["overall_metrics"],
            "checks": blessing["checks"],
            "change_checks": blessing.get("change_checks", []),
            "fairness_check": blessing.get("fairness_check"),
            "baseline_version": (blessing.get("baseline") or {}).get("version"),
            # What ExampleGen actually read (the run's data_source, not the config's default).
            "data_source": (blessing.get("data") or {}).get("source") or config.data.source,
            "schema_sha256": file_sha256(schema_path(inputs.schema)),
            "config_sha256": config.fingerprint(),
            "git_commit": inputs.git_commit or None,
            "run_reason": inputs.run_reason or None,
        }
        if config.push.kserve:
            # No cluster credentials (a Vertex AI Pipelines task) is refused before anything is pushed.
            kube_custom_objects_api()
        train_stats = stats_path(inputs.statistics, "train") if inputs.statistics else ""
        extra = {TRAINING_STATS: train_stats} if train_stats and gfile(train_stats).exists(train_stats) else {}
        # The schema travels with the model: the predictor checks requests against its domains.
        extra[TRAINING_SCHEMA] = schema_path(inputs.schema)
        pushed = push_model(serving_model_dir(inputs.model), registry, config.model_name, metadata, extra)
        version, destination = pushed.version, pushed.destination
        # A retried push (its rollout failed) finds its version: the rollout below points at it again.
        reason = f"blessed; already pushed as version {version}" if pushed.existing else "blessed"
        metadata = read_metadata(destination)
        result = PushResult(pushed=True, reason=reason, version=version, destination=destination, metadata=metadata)
        log.info("Pusher: %s -> %s", reason if pushed.existing else f"pushed version {version}", destination)
        if config.push.kserve:
            # The version is in the registry either way; a failed rollout fails the step so
            # the run shows it, and `rollback` / a re-run can follow.
            result.kserve = deploy_to_kserve(config, destination, version)
        if config.push.vertex_endpoint:
            from components.pusher.vertex_endpoint import deploy_to_vertex_endpoint

            result.vertex_endpoint = deploy_to_vertex_endpoint(
                config.push.vertex_endpoint, destination, version, config.model_name
            )
    gfile(outputs.pushed_model).makedirs(outputs.pushed_model)
    write_json(os.path.join(outputs.pushed_model, PUSH_RESULT), result.to_dict())
    return result
