"""RetrainTrigger: when the monitor decided "retrain", start a training run, at most once per
cooldown, and record why.

The decision is the monitor's JSON ({"decision": "retrain" | ..., "reasons": [...]}). The
trigger log, `<registry>/<model_name>/monitoring/retrain_triggers.json`, lives beside the
versions it is about, so every monitor run of the model (local, KFP, Vertex) sees the same
cooldown. A noisy signal therefore starts one run per cooldown, not one per window.

Where the run starts (`target`):
  kfp     kfp.Client(host).create_run_from_pipeline_package: the compiled training package
          (local path or gs://), its own per-task caching kept
  vertex  aiplatform.PipelineJob(template_path=package).submit(service_account)
  record  start nothing: record the trigger and say what would run (a dry run, and what a
          caller that starts runs itself, such as `make loop`, uses)
  local   as record, for the pipelines layer to start on this machine (components never
          import pipelines): pipelines/retrain.py start_local_retrain, `tabml monitor
          --retrain-target local`
The reason travels as the run's `run_reason` parameter (kept in the pushed model's metadata)
and in its display name.

The run's parameters: `params` (the monitoring pipeline's retrain_params), over the defaults
the window gives: extra_data, the window's labelled rows (RequestWindow's labelled.csv at the
window artifact's URI, gs:// on a cluster, so the training run's pods read it too), when it
has any. A parameter in `params` wins over its default (extra_data="" trains on the data
alone); run_reason is always the monitor's.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field

import tensorflow as tf

from components.common.io import log, read_json, write_json
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.monitoring import LABELLED_CSV, LABELLED_ROWS, WINDOW_SUMMARY
from contracts.registry import checked_registry, model_base

TRIGGER_LOG = os.path.join("monitoring", "retrain_triggers.json")
RESULT_FILE = "retrain.json"
RETRAIN = "retrain"
TARGETS = ("record", "local", "kfp", "vertex")
EXTRA_DATA = "extra_data"  # the training pipeline's parameter for labelled rows beside the data


class TriggerError(ValueError):
    """A trigger that cannot start what it was asked to; says what to set."""


@dataclass(frozen=True)
class Inputs:
    decision: str  # the monitor's decision JSON (a file, or a directory holding decision.json)
    model_registry: str
    # RequestWindow's output as this step reads it, and its URI, as a training run on another
    # machine reads it (KFP: artifact.uri gs://..., where artifact.path is this pod's /gcs/...).
    window: str = ""
    window_uri: str = ""  # empty: window
    target: str = "record"
    package: str = ""  # the compiled training pipeline (kfp / vertex)
    params: dict = field(default_factory=dict)  # the training run's parameters (data_source, ...)
    cooldown_hours: float = 24.0
    kfp_host: str = ""
    experiment: str = "tabml-retrain"
    vertex_project: str = ""
    vertex_region: str = "us-central1"
    pipeline_root: str = ""
    service_account: str = ""
    now: str = ""  # ISO time (tests); empty: the clock


@dataclass(frozen=True)
class Outputs:
    result: str  # a directory: retrain.json


@dataclass
class Result(ExecutorResult):
    triggered: bool
    reason: str  # why it did or did not start a run
    run: dict = field(default_factory=dict)  # what was started (or would be, for "record" / "local")
    labelled_rows: int = 0  # the window's labelled rows, given to the run as extra_data
    last_trigger: dict | None = None


def _now(inputs: Inputs) -> dt.datetime:
    return dt.datetime.fromisoformat(inputs.now) if inputs.now else dt.datetime.now(dt.UTC)


def read_decision(path: str) -> dict:
    if tf.io.gfile.isdir(path):
        path = os.path.join(path, "decision.json")
    decision = read_json(path)
    if "decision" not in decision:
        raise TriggerError(f"{path}: not a monitor decision (no 'decision' key)")
    return decision


def trigger_log_path(registry: str, model_name: str) -> str:
    return os.path.join(model_base(registry, model_name), TRIGGER_LOG)


def read_triggers(registry: str, model_name: str) -> list[dict]:
    path = trigger_log_path(registry, model_name)
    return read_json(path).get("triggers", []) if tf.io.gfile.exists(path) else []


def _record(registry: str, model_name: str, triggers: list[dict]) -> None:
    """The whole log rewritten through a temporary name: a reader never sees half of it."""
    path = trigger_log_path(registry, model_name)
    tf.io.gfile.makedirs(os.path.dirname(path))
    staging = f"{path}.tmp-{os.getpid()}"
    write_json(staging, {"triggers": triggers})
    tf.io.gfile.rename(staging, path, overwrite=True)


def in_cooldown(triggers: list[dict], now: dt.datetime, cooldown_hours: float) -> dict | None:
    """The trigger that still blocks a new one, if any."""
    if not triggers:
        return None
    last = triggers[-1]
    if now - dt.datetime.fromisoformat(last["at"]) < dt.timedelta(hours=cooldown_hours):
        return last
    return None


def _local_package(package: str) -> str:
    if "://" not in package:
        return package
    local = os.path.join(tempfile.mkdtemp(prefix="retrain-"), os.path.basename(package))
    tf.io.gfile.copy(package, local)
    return local


def _start_kfp(inputs: Inputs, params: dict, run_name: str) -> dict:
    import kfp

    if not inputs.kfp_host:
        raise TriggerError("target kfp needs kfp_host (the KFP API endpoint)")
    client = kfp.Client(host=inputs.kfp_host)
    started = client.create_run_from_pipeline_package(
        _local_package(inputs.package), arguments=params, run_name=run_name, experiment_name=inputs.experiment
    )
    return {"target": "kfp", "run_id": started.run_id, "run_name": run_name}


def _start_vertex(inputs: Inputs, params: dict, run_name: str) -> dict:
    from google.cloud import aiplatform

    if not (inputs.vertex_project and inputs.pipeline_root):
        raise TriggerError("target vertex needs vertex_project and pipeline_root (gs://...)")
    job = aiplatform.PipelineJob(
        display_name=run_name,
        template_path=inputs.package,
        pipeline_root=inputs.pipeline_root,
        parameter_values=params,
        project=inputs.vertex_project,
        location=inputs.vertex_region,
        labels={"trigger": "monitor"},
    )
    job.submit(service_account=inputs.service_account or None)
    return {"target": "vertex", "run_id": job.resource_name, "run_name": run_name}


def labelled_data(inputs: Inputs) -> tuple[str, int]:
    """The window's labelled rows as the training run reads them, and how many; ("", 0) when
    there is no window or no row of it has a label."""
    if not inputs.window:
        return "", 0
    rows = int(read_json(os.path.join(inputs.window, WINDOW_SUMMARY)).get(LABELLED_ROWS) or 0)
    if rows and not tf.io.gfile.exists(os.path.join(inputs.window, LABELLED_CSV)):
        log.warning("RetrainTrigger: %s has no %s (an older RequestWindow): no extra data", inputs.window, LABELLED_CSV)
        return "", 0
    return (os.path.join(inputs.window_uri or inputs.window, LABELLED_CSV), rows) if rows else ("", 0)


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    if inputs.target not in TARGETS:
        raise TriggerError(f"target must be one of {', '.join(TARGETS)}, got {inputs.target!r}")
    if inputs.target in ("kfp", "vertex") and not inputs.package:
        raise TriggerError(f"target {inputs.target} needs package: the compiled training pipeline to run")
    registry = checked_registry(inputs.model_registry)
    decision = read_decision(inputs.decision)
    now = _now(inputs)
    triggers = read_triggers(registry, config.model_name)
    blocking = in_cooldown(triggers, now, inputs.cooldown_hours)
    reasons = "; ".join(decision.get("reasons", [])) or decision["decision"]
    if decision["decision"] != RETRAIN:
        result = Result(False, f"no retrain: the monitor decided {decision['decision']!r} ({reasons})")
    elif blocking:
        until = dt.datetime.fromisoformat(blocking["at"]) + dt.timedelta(hours=inputs.cooldown_hours)
        result = Result(
            False,
            f"cooldown: a retrain was started at {blocking['at']} ({blocking['reason']}); the next may start "
            f"after {until.isoformat(timespec='seconds')} (cooldown_hours={inputs.cooldown_hours:g})",
            last_trigger=blocking,
        )
    else:
        stamp = now.strftime("%Y%m%d-%H%M%S")
        run_name = f"{config.pipeline_name}-retrain-{stamp}"
        extra, labelled = labelled_data(inputs)
        defaults = {EXTRA_DATA: extra} if extra else {}
        params = {**defaults, **inputs.params, "run_reason": f"monitor: {reasons}"}
        if inputs.target == "kfp":
            started = _start_kfp(inputs, params, run_name)
        elif inputs.target == "vertex":
            started = _start_vertex(inputs, params, run_name)
        else:
            started = {"target": inputs.target, "run_name": run_name, "params": params}
        entry = {"at": now.isoformat(timespec="seconds"), "reason": reasons, "run": started}
        # Recorded after the run started: a failed start leaves no cooldown behind; a failed
        # record fails this step, so a started run is never silently left out of the log.
        _record(registry, config.model_name, [*triggers, entry])
        result = Result(True, f"retrain started: {reasons}", run=started, last_trigger=entry, labelled_rows=labelled)
    log.info("RetrainTrigger: %s", result.reason)
    tf.io.gfile.makedirs(outputs.result)
    write_json(os.path.join(outputs.result, RESULT_FILE), result.to_dict())
    return result


def decision_file(path: str, decision: str, reasons: list[str]) -> str:
    """Writes a monitor decision (what the monitor step writes; here for callers and tests)."""
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    write_json(path, {"decision": decision, "reasons": reasons})
    return path
