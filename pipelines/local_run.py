"""Runs the pipeline on this machine with kfp.local (SubprocessRunner, use_venv=False):
every component runs as a subprocess in the project's own environment."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts.artifacts import BLESSING_JSON, FAILURE_FILE, PUSH_RESULT
from contracts.config import PipelineConfig
from pipelines.training_pipeline import build_pipeline, thresholds_parameter


class RunFailed(RuntimeError):
    """A step failed; the message names the step and the cause."""


@dataclass
class LocalRun:
    run_dir: Path
    seconds: float
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> output -> path
    task_seconds: dict[str, float] = field(default_factory=dict)
    blessing: dict | None = None
    push: dict | None = None


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


class TaskTimer(logging.Filter):
    """Reads kfp.local's own 'Executing task' / 'Task ... finished' log records: the wall
    time of each step, in the order the steps ran. A filter on the root logger, because
    kfp.local replaces the root logger's handlers while it runs."""

    _ansi = re.compile(r"\x1b\[[0-9;]*m")
    _start = re.compile(r"^Executing task '([^']+)'")
    _end = re.compile(r"^Task '([^']+)' finished with status")

    def __init__(self):
        super().__init__()
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = self._ansi.sub("", record.getMessage())
        if m := self._start.match(message):
            self.started[m.group(1)] = record.created
        elif (m := self._end.match(message)) and m.group(1) in self.started:
            self.seconds[m.group(1)] = record.created - self.started[m.group(1)]
        return True


def _task_outputs(run_dir: Path, order: list[str]) -> dict:
    """Output paths per task, in the order the tasks ran."""
    tasks = sorted(
        (p for p in run_dir.iterdir() if p.is_dir()),
        key=lambda p: order.index(p.name) if p.name in order else len(order),
    )
    return {t.name: {p.name: str(p) for p in sorted(t.iterdir()) if p.name != "executor_output.json"} for t in tasks}


def run_pipeline_locally(pipeline_root: str | Path, start_run) -> LocalRun:
    """Runs `start_run()` (a call of a @dsl.pipeline function) under kfp.local's
    SubprocessRunner in this environment, timing each step; a failed step raises RunFailed
    with its failure.json cause."""
    from kfp import local

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    before = set(root.iterdir())
    timer = TaskTimer()
    logging.getLogger().addFilter(timer)
    start = time.perf_counter()
    try:
        start_run()
    except RuntimeError as err:
        raise RunFailed(_failure(root, before) or str(err)) from err
    finally:
        logging.getLogger().removeFilter(timer)
    elapsed = time.perf_counter() - start
    run_dir = max(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    return summarise(run_dir, elapsed, timer.seconds)


def run_local(
    config: PipelineConfig,
    pipeline_root: str | Path,
    data_source: str | None = None,
    epochs: int | None = None,
    registry: str | None = None,
    extra_data: str = "",
    run_reason: str = "",
    params: dict | None = None,
) -> LocalRun:
    """The training pipeline under kfp.local. extra_data: labelled rows appended to the data;
    run_reason: recorded with the pushed model; params: any other pipeline parameters by name."""
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
    return run_pipeline_locally(pipeline_root, lambda: build_pipeline(config)(**{**values, **(params or {})}))


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
