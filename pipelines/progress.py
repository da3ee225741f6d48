"""What a local run shows and keeps: kfp.local prints every step's whole output (the executor's
input JSON, TensorFlow's and Beam's start-up lines) to stdout. StepLogs takes that stream and
writes one file per step (<run dir>/logs/<step>.log); StepEvents reads kfp.local's own
'Executing task' / 'Task ... finished' records to know which step is running and how long each
took; LiveProgress shows each step start and finish with its figures (from the step's
executor_output.json, the metadata KFP records for each output artifact)."""

from __future__ import annotations

import io
import json
import logging
import re
import resource
import textwrap
import time
from pathlib import Path
from typing import Protocol, TextIO

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local's lines after a step's output: its status record, and a rule across the terminal.
_KFP_CLOSING = re.compile(r"^(-+|[\d:.]+ - \w+ - Task '[^']+' finished with status \w+)$")
LOGS_DIR = "logs"  # in the run directory
PIPELINE_LOG = "pipeline.log"  # what kfp.local prints outside any step
STEPS_JSON = "steps.json"  # each step's wall and CPU seconds


class StepLogs(io.TextIOBase):
    """A text stream (it stands in for sys.stdout while kfp.local runs) split into one log file
    per step; `echo` also gets everything, as printed (--verbose)."""

    def __init__(self, directory: Path, echo: TextIO | None = None):
        self.dir = directory
        self.echo = echo
        self.step: str | None = None
        self._files: dict[str, TextIO] = {}

    def path(self, step: str | None) -> Path:
        return self.dir / (f"{step}.log" if step else PIPELINE_LOG)

    def _file(self) -> TextIO:
        name = self.step or ""
        if name not in self._files:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._files[name] = open(self.path(self.step), "a", encoding="utf-8")  # closed in close()
        return self._files[name]

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.echo is not None:
            self.echo.write(text)
        self._file().write(ANSI.sub("", text))
        return len(text)

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()
        if self.echo is not None:
            self.echo.flush()

    def move(self, directory: Path) -> None:
        """Moves the logs (written so far and to come) to `directory`; open files stay valid."""
        if directory != self.dir and self.dir.exists():
            directory.parent.mkdir(parents=True, exist_ok=True)
            self.dir.rename(directory)
        self.dir = directory

    def tail(self, step: str | None, lines: int = 20) -> list[str]:
        """The last lines the step printed, without kfp.local's own closing lines and indent."""
        self.flush()
        try:
            with open(self.path(step), encoding="utf-8", errors="replace") as f:
                text = [line.rstrip() for line in f]
        except OSError:
            return []
        while text and (not text[-1].strip() or _KFP_CLOSING.match(text[-1])):
            text.pop()
        return textwrap.dedent("\n".join(text[-lines:])).splitlines()

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        super().close()


class Listener(Protocol):
    def started(self, step: str) -> None: ...
    def finished(self, step: str, seconds: float, step_dir: Path | None, log: Path) -> None: ...
    def failed(self, step: str, seconds: float, log: Path) -> None: ...


class StepEvents(logging.Filter):
    """kfp.local's own log records -> which step runs (its output goes to that step's log), each
    step's wall time, and the listener's calls. A filter on the root logger, because kfp.local
    replaces the root logger's handlers while it runs; a filter sees a record before any
    handler writes it, so a step's 'Executing task' line is already in its own log."""

    _start = re.compile(r"^Executing task '([^']+)'")
    _end = re.compile(r"^Task '([^']+)' finished with status (\w+)")

    def __init__(self, logs: StepLogs, find_run_dir, listener: Listener | None = None):
        super().__init__()
        self.logs, self.find_run_dir, self.listener = logs, find_run_dir, listener
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        # CPU seconds of each step's subprocess (and its children): kfp.local has waited for it
        # when it logs the end, so it is in this process's RUSAGE_CHILDREN by then.
        self.cpu: dict[str, float] = {}
        self.warm_cpu = lambda: 0.0  # steps' CPU-s not in RUSAGE_CHILDREN (pipelines/warm_steps.py)
        self._cpu_at_start = 0.0
        self.failed: str | None = None
        self.run_dir: Path | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = ANSI.sub("", record.getMessage())
        if m := self._start.match(message):
            self.started[m.group(1)] = record.created
            self._cpu_at_start = _children_cpu() + self.warm_cpu()
            self.logs.step = m.group(1)
            self._tell("started", m.group(1))
        elif (m := self._end.match(message)) and m.group(1) in self.started:
            step, status = m.groups()
            self.seconds[step] = record.created - self.started[step]
            self.cpu[step] = _children_cpu() + self.warm_cpu() - self._cpu_at_start
            self.locate()
            if status == "SUCCESS":
                step_dir = self.run_dir / step if self.run_dir else None
                self._tell("finished", step, self.seconds[step], step_dir, self.logs.path(step))
            else:
                self.failed = step
                self._tell("failed", step, self.seconds[step], self.logs.path(step))
        return True

    def _tell(self, event: str, *args) -> None:
        # Called inside kfp.local's logging call: a display error must not fail the run.
        try:
            if self.listener:
                getattr(self.listener, event)(*args)
        except Exception as err:  # noqa: BLE001
            self.logs.write(f"progress display: {type(err).__name__}: {err}\n")

    def locate(self) -> Path | None:
        """The run directory, once kfp.local has made it; the logs move into it."""
        if self.run_dir is None and (found := self.find_run_dir()):
            self.run_dir = found
            self.logs.move(found / LOGS_DIR)
        return self.run_dir

    def fail(self) -> str | None:
        """After kfp.local raised: the step that failed. Inside a pipeline it logs the step's
        FAILURE first; a single task raises without a record, so it is the one still running."""
        self.locate()
        if self.failed:
            return self.failed
        left = [s for s in self.started if s not in self.seconds]
        if left:
            self._tell("failed", left[-1], time.time() - self.started[left[-1]], self.logs.path(left[-1]))
        return left[-1] if left else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _outputs_metadata(step_dir: Path) -> dict[str, dict]:
    try:
        out = json.loads((step_dir / "executor_output.json").read_text())
    except (OSError, ValueError):
        return {}
    return {
        name: (a.get("artifacts") or [{}])[0].get("metadata") or {} for name, a in (out.get("artifacts") or {}).items()
    }


def _number(value) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4f}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def step_figures(step_dir: Path | None) -> tuple[str, list[str]]:
    """A step's key figures on one line, and notes worth a line each (ExampleGen's warnings),
    from the metadata its outputs carry; empty for a step whose outputs carry none we know."""
    figures: list[str] = []
    notes: list[str] = []
    for name, meta in _outputs_metadata(step_dir).items() if step_dir else ():
        kind = meta.get("tfx_type")
        if kind == "Examples" and isinstance(meta.get("split_counts"), dict):
            figures.append("rows " + ", ".join(f"{s} {_number(n)}" for s, n in meta["split_counts"].items()))
            notes += [str(w) for w in meta.get("warnings") or []]
        elif kind == "Schema":
            figures.append(f"curated schema {meta.get('origin')}" if meta.get("curated") else "schema inferred")
        elif kind == "ExampleAnomalies":
            count = int(meta.get("anomaly_count") or 0)
            figures.append("no anomalies" if not count else f"{count} anomalies")
            if meta.get("drift_decision") not in (None, "", "not compared"):
                figures.append(f"training drift: {meta['drift_decision']}")
        elif name == "training_metrics":
            shown = [k for k in meta if k.startswith("val_")][:2] or [k for k in meta if k != "examples_per_second"][:2]
            figures += [f"{k} {_number(meta[k])}" for k in shown]
            if "examples_per_second" in meta:
                figures.append(f"{_number(round(meta['examples_per_second']))} examples/s")
        elif kind == "ModelBlessing":
            reasons = "; ".join(meta.get("reasons") or [])
            figures.insert(0, "BLESSED" if meta.get("blessed") else f"NOT BLESSED{': ' + reasons if reasons else ''}")
        elif name == "eval_metrics":
            shown = [k for k in meta if k != "example_count" and "/" not in k][:2]
            figures += [f"{k} {_number(meta[k])}" for k in shown]
            if "example_count" in meta:
                figures.append(f"on {_number(meta['example_count'])} examples")
        elif kind == "PushedModel":
            pushed = meta.get("pushed")
            figures.append(
                f"pushed version {meta.get('pushed_version')}" if pushed else f"nothing pushed: {meta.get('reason')}"
            )
    return "  ".join(figures), notes


class LiveProgress:
    """Each step as it starts (a spinner with its running time on a terminal, a line elsewhere)
    and as it ends: wall time and key figures. With `verbose` (kfp.local's own output streams
    too, and says when a step starts) the finished lines only."""

    def __init__(self, console, verbose: bool = False):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console
        self.live = not verbose and console.is_terminal
        self.start_lines = not verbose and not console.is_terminal
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,  # kfp.local's stream goes to the step logs, not above the bar
            redirect_stderr=False,
            disable=not self.live,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def started(self, step: str) -> None:
        if self.live:
            self.tasks[step] = self.bar.add_task(step)
        elif self.start_lines:
            self.console.print(f"  {step} ...", highlight=False)

    def _done(self, step: str) -> None:
        if step in self.tasks:
            self.bar.remove_task(self.tasks.pop(step))

    def finished(self, step: str, seconds: float, step_dir: Path | None, log: Path) -> None:
        self._done(step)
        headline, notes = step_figures(step_dir)
        self.console.print(f"[green]✓[/green] {step:<18} {seconds:6.1f}s  {headline}".rstrip(), highlight=False)
        for note in notes:
            self.console.print(f"    {note}", highlight=False, soft_wrap=True)

    def failed(self, step: str, seconds: float, log: Path) -> None:
        self._done(step)
        self.console.print(f"[red]✗[/red] {step:<18} {seconds:6.1f}s  failed; its log: {log}", highlight=False)
