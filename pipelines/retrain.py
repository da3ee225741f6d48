"""Starts on this machine the retrain a RetrainTrigger recorded with target "local": the
training pipeline under kfp.local with the recorded parameters (data_source, extra_data,
epochs, run_reason, ...). Components never import pipelines, so the trigger records the run
and this layer starts it (`tabml monitor --retrain-target local`).

The training run's registry: a model_registry in the recorded parameters (an explicit
retrain parameter), else the `registry` given here (the monitor's), else the config's.
"""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format

from components.retrain_trigger.executor import RESULT_FILE
from contracts.config import PipelineConfig
from pipelines.local_run import LocalRun, run_local
from pipelines.submit import SubmitError, parse_params
from pipelines.training_pipeline import build_pipeline

LOCAL = "local"
# Parameters run_local takes by name (it localises paths and fills the rest).
_NAMED = ("data_source", "extra_data", "epochs", "run_reason")


class RetrainError(ValueError):
    """A recorded retrain that cannot be started here; says why."""


def read_trigger(trigger: dict | str | Path) -> dict:
    """The trigger's result: a dict, retrain.json, or the directory holding it."""
    if isinstance(trigger, dict):
        return trigger
    path = Path(trigger)
    if path.is_dir():
        path = path / RESULT_FILE
    if not path.is_file():
        raise RetrainError(f"{path}: no retrain trigger result ({RESULT_FILE}) there")
    return json.loads(path.read_text())


def typed_params(config: PipelineConfig, params: dict) -> dict:
    """The recorded parameters as the training pipeline types them: `-p epochs=2` on the
    command line is recorded as text."""
    spec = json_format.MessageToDict(build_pipeline(config).pipeline_spec)
    typed = {}
    for name, value in params.items():
        try:
            typed |= parse_params(spec, [f"{name}={value}"]) if isinstance(value, str) else {name: value}
        except SubmitError as err:
            raise RetrainError(f"the retrain's parameters: {err}") from None
    declared = spec["root"]["inputDefinitions"]["parameters"]
    unknown = sorted(set(typed) - set(declared))
    if unknown:
        raise RetrainError(f"the retrain's parameters {unknown} are not the training pipeline's: {sorted(declared)}")
    return typed


def start_local_retrain(
    config: PipelineConfig, trigger: dict | str | Path, pipeline_root: str | Path, registry: str | None = None
) -> LocalRun | None:
    """Runs the training pipeline locally as the trigger recorded it; None when it did not
    trigger (no retrain decision, or the cooldown)."""
    found = read_trigger(trigger)
    if not found.get("triggered"):
        return None
    run = found.get("run") or {}
    if run.get("target") != LOCAL:
        raise RetrainError(
            f"the trigger's run has target {run.get('target')!r}: only a {LOCAL!r} one is started on this machine"
        )
    params = typed_params(config, run.get("params") or {})
    named = {name: params.pop(name) for name in _NAMED if name in params}
    registry = params.pop("model_registry", None) or registry
    return run_local(config, pipeline_root, registry=registry, params=params, **named)
