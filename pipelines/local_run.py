"""Runs the pipeline on this machine with kfp.local (SubprocessRunner, use_venv=False):
every component runs as a subprocess in the project's own environment. Each step's whole
output goes to <run dir>/logs/<step>.log (pipelines/progress.py); a listener sees each step
start and finish, and `verbose` streams everything as kfp.local prints it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from contracts.artifacts import BLESSING_JSON, FAILURE_FILE, PUSH_RESULT
from contracts.config import PipelineConfig
from pipelines.progress import ANSI, LOGS_DIR, STEPS_JSON, Listener, StepEvents, StepLogs
from pipelines.training_pipeline import build_pipeline, thresholds_parameter
from pipelines.warm_steps import warm_steps

TAIL_LINES = 20


class RunFailed(RuntimeError):
    """A step failed; the message names the step and the cause, then its log's path and last lines."""

    def __init__(self, message: str, step: str | None = None, log: Path | None = None):
        super().__init__(message)
        self.step, self.log = step, log


@dataclass
class LocalRun:
    run_dir: Path
    seconds: float
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> output -> path
    task_seconds: dict[str, float] = field(default_factory=dict)
    blessing: dict | None = None
    push: dict | None = None
    logs: Path | None = None  # <run dir>/logs: one <step>.log per step


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _absolute(path: str) -> str:
    return path if "://" in path or not path else os.path.abspath(path)


def localise(config: PipelineConfig) -> PipelineConfig:
    """Relative paths in the config -> absolute, so every subprocess sees the same files."""
    data = config.model_dump(mode="json", exclude_none=True)
    data["data"]["source"] = _absolute(config.data.source)
    data["validation"]["schema_path"] = _absolute(config.validation.schema_path)
    data["push"]["registry"] = _absolute(config.push.registry)
    if config.user_code.module_file:
        data["user_code"]["module_file"] = _absolute(config.user_code.module_file)
    return PipelineConfig.model_validate(data)


def _task_outputs(run_dir: Path, order: list[str]) -> dict:
    """Output paths per task, in the order the tasks ran."""
    tasks = sorted(
        (p for p in run_dir.iterdir() if p.is_dir() and p.name != LOGS_DIR),
        key=lambda p: order.index(p.name) if p.name in order else len(order),
    )
    return {t.name: {p.name: str(p) for p in sorted(t.iterdir()) if p.name != "executor_output.json"} for t in tasks}


def _new_dir(root: Path, before: set) -> Path | None:
    new = [p for p in set(root.iterdir()) - before if p.is_dir() and not p.name.startswith(".")]
    return max(new, key=lambda p: p.stat().st_mtime) if new else None


def run_pipeline_locally(
    pipeline_root: str | Path,
    start_run,
    verbose: bool = False,
    listener: Listener | None = None,
    warm: bool = False,
) -> LocalRun:
    """Runs `start_run()` (a call of a @dsl.pipeline function) under kfp.local's
    SubprocessRunner in this environment, timing each step and writing its output to its log
    (`verbose`: to stdout as well); a failed step raises RunFailed with its failure.json cause
    and its log's last lines. `warm`: the steps run forked from a zygote that has imported
    the training steps' libraries once (pipelines/warm_steps.py), not in fresh subprocesses;
    it takes some 7 s to start, a loss for a pipeline of light steps."""
    from kfp import local

    stack = contextlib.ExitStack()  # the zygote first: it imports while kfp.local starts
    zygote = stack.enter_context(warm_steps(warm))

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    before = set(root.iterdir())
    # Until kfp.local has made the run directory the logs are staged beside it.
    logs = StepLogs(root / f".logs-{uuid.uuid4().hex[:8]}", echo=sys.stdout if verbose else None)
    events = StepEvents(logs, lambda: _new_dir(root, before), listener)
    if zygote:
        events.warm_cpu = lambda: zygote.cpu
    logging.getLogger().addFilter(events)
    # kfp.local prints to sys.stdout (its log handler binds it when each step starts), and the
    # steps' stderr is merged into it; the parent's own warnings go to the logs too.
    streams = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = logs
    start = time.perf_counter()
    try:
        start_run()
    except RuntimeError as err:
        sys.stdout, sys.stderr = streams
        step = events.fail()
        raise _run_failed(root, before, err, logs, step) from err
    finally:
        sys.stdout, sys.stderr = streams
        logging.getLogger().removeFilter(events)
        logs.close()
        stack.close()
    elapsed = time.perf_counter() - start
    run_dir = events.locate() or _new_dir(root, before)
    run = summarise(run_dir, elapsed, events.seconds)
    run.logs = logs.dir
    if run.logs.is_dir():  # the steps' wall and CPU seconds, for tools (bench/local_floor.py)
        timings = {"seconds": elapsed, "steps": events.seconds, "cpu_seconds": events.cpu}
        timings["warm_steps"] = zygote.summary() if zygote else None
        (run.logs / STEPS_JSON).write_text(json.dumps(timings, indent=1))
    return run


def _run_failed(root: Path, before: set, err: Exception, logs: StepLogs, step: str | None) -> RunFailed:
    message = _failure(root, before) or ANSI.sub("", str(err))
    tail = logs.tail(step, TAIL_LINES)
    log = logs.path(step)
    if tail:
        message += f"\nthe last {len(tail)} lines of {log}:\n" + "\n".join(f"  {line}" for line in tail)
    return RunFailed(message, step=step, log=log)


def run_local(
    config: PipelineConfig,
    pipeline_root: str | Path,
    data_source: str | None = None,
    epochs: int | None = None,
    registry: str | None = None,
    extra_data: str = "",
    run_reason: str = "",
    params: dict | None = None,
    verbose: bool = False,
    listener: Listener | None = None,
    warm: bool = True,
) -> LocalRun:
    """The training pipeline under kfp.local. extra_data: labelled rows appended to the data;
    run_reason: recorded with the pushed model; params: any other pipeline parameters by name;
    verbose, listener, warm: see run_pipeline_locally."""
    config = localise(config)
    values = {
        "data_source": _absolute(data_source) if data_source else config.data.source,
        "extra_data": _absolute(extra_data),
        "epochs": epochs or config.model.epochs,
        "value_thresholds": thresholds_parameter(config),
        "model_registry": _absolute(registry) if registry else config.push.registry,
        "git_commit": git_commit(),
        "run_reason": run_reason,
        "pipeline_config": config.to_json(),
    }
    return run_pipeline_locally(
        pipeline_root, lambda: build_pipeline(config)(**{**values, **(params or {})}), verbose, listener, warm
    )


def _failure(root: Path, before: set) -> str | None:
    """'<step> failed: <cause>' from the failed step's failure.json, when it left one."""
    for run_dir in set(root.iterdir()) - before:
        for path in sorted(run_dir.glob(f"*/{FAILURE_FILE}")):
            failure = json.loads(path.read_text())
            return f"{failure['step']} ({path.parent.name}) failed: {failure['error']}"
    return None


def summarise(run_dir: Path, seconds: float, task_seconds: dict[str, float]) -> LocalRun:
    artifacts = _task_outputs(run_dir, list(task_seconds))
    run = LocalRun(run_dir=run_dir, seconds=seconds, artifacts=artifacts, task_seconds=task_seconds)
    for outputs in artifacts.values():
        if "blessing" in outputs:
            run.blessing = json.loads((Path(outputs["blessing"]) / BLESSING_JSON).read_text())
        if "pushed_model" in outputs:
            run.push = json.loads((Path(outputs["pushed_model"]) / PUSH_RESULT).read_text())
    return run
