"""A local run's progress and logs: kfp.local's whole output goes to one log per step in the run
directory, a listener sees each step start and finish with its figures, --verbose streams it
all, and a failed step's error names its log and quotes its last lines. Tiny components under
the real kfp.local (each step a subprocess that imports only kfp)."""

# No `from __future__ import annotations`: kfp reads the components' annotations as types.

import json
import subprocess
import sys

import pytest
from kfp import dsl
from kfp.dsl import Artifact, Input, Output
from rich.console import Console

from pipelines.local_run import RunFailed, run_pipeline_locally
from pipelines.progress import LiveProgress, step_figures


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def say(text: str, out: Output[Artifact]):
    import os

    print(f"said: {text}")
    os.makedirs(out.path, exist_ok=True)
    out.metadata.update({"tfx_type": "Examples", "split_counts": {"train": 1200, "eval": 300}, "warnings": ["a note"]})


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fail(text: str, inp: Input[Artifact]):
    print(f"about to fail: {text}")
    raise ValueError("broken on purpose")


@dsl.pipeline(name="tiny")
def tiny():
    say(text="hello")


@dsl.pipeline(name="tiny-failing")
def tiny_failing():
    fail(text="now", inp=say(text="first").outputs["out"])


class Recorder:
    def __init__(self):
        self.events = []

    def started(self, step):
        self.events.append(("started", step))

    def finished(self, step, seconds, step_dir, log):
        self.events.append(("finished", step, step_figures(step_dir), log.name))

    def failed(self, step, seconds, log):
        self.events.append(("failed", step, log.name))


def test_each_step_logs_to_its_file_and_nothing_to_stdout(tmp_path, capfd):
    listener = Recorder()
    run = run_pipeline_locally(tmp_path, tiny, listener=listener)
    out = capfd.readouterr()
    assert "said: hello" not in out.out + out.err and "executor_input" not in out.out + out.err
    assert run.logs == run.run_dir / "logs"
    log = (run.logs / "say.log").read_text()
    assert "said: hello" in log and "Got executor_input" in log and "\x1b[" not in log  # no colour codes
    assert list(run.artifacts) == ["say"]  # the logs directory is no step
    assert listener.events == [
        ("started", "say"),
        ("finished", "say", ("rows train 1,200, eval 300", ["a note"]), "say.log"),
    ]
    timings = json.loads((run.logs / "steps.json").read_text())
    assert timings["steps"] == run.task_seconds and run.task_seconds["say"] > 0
    assert 0.01 < timings["cpu_seconds"]["say"] < 60  # the step's subprocess: Python and kfp's runtime import
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".logs")]  # staged logs moved in


def test_verbose_streams_everything_and_keeps_the_logs(tmp_path, capfd):
    run = run_pipeline_locally(tmp_path, tiny, verbose=True)
    assert "said: hello" in capfd.readouterr().out
    assert "said: hello" in (run.logs / "say.log").read_text()


def test_a_failed_step_names_its_log_and_quotes_its_end(tmp_path):
    listener = Recorder()
    with pytest.raises(RunFailed) as failed:
        run_pipeline_locally(tmp_path, tiny_failing, listener=listener)
    err = failed.value
    assert err.step == "fail" and err.log.name == "fail.log" and err.log.parent.parent.parent == tmp_path
    assert "about to fail: now" in err.log.read_text()
    message = str(err)
    assert f"the last 20 lines of {err.log}" in message and "ValueError: broken on purpose" in message
    assert listener.events[-1] == ("failed", "fail", "fail.log")


def test_progress_lines(tmp_path):
    console = Console(record=True, width=200, force_terminal=False)
    step_dir = tmp_path / "pusher"
    step_dir.mkdir()
    (step_dir / "executor_output.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "pushed_model": {
                        "artifacts": [{"metadata": {"tfx_type": "PushedModel", "pushed": 1, "pushed_version": 17}}]
                    }
                }
            }
        )
    )
    with LiveProgress(console) as progress:
        progress.started("pusher")
        progress.finished("pusher", 1.25, step_dir, tmp_path / "pusher.log")
        progress.started("other")
        progress.failed("other", 3.0, tmp_path / "other.log")
    text = console.export_text()
    assert "  pusher ...\n✓ pusher                1.2s  pushed version 17\n" in text
    assert f"✗ other                 3.0s  failed; its log: {tmp_path / 'other.log'}" in text


def test_figures_of_the_training_steps(tmp_path):
    def figures(**outputs):
        (tmp_path / "executor_output.json").write_text(
            json.dumps({"artifacts": {k: {"artifacts": [{"metadata": v}]} for k, v in outputs.items()}})
        )
        return step_figures(tmp_path)[0]

    assert figures(anomalies={"tfx_type": "ExampleAnomalies", "anomaly_count": 2, "drift_decision": "warn"}) == (
        "2 anomalies  training drift: warn"
    )
    assert figures(schema={"tfx_type": "Schema", "curated": False, "origin": "inferred"}) == "schema inferred"
    trained = figures(
        training_metrics={"loss": 0.2, "val_loss": 0.25, "val_auc": 0.9412345, "examples_per_second": 2544.6}
    )
    assert trained == "val_loss 0.2500  val_auc 0.9412  2,545 examples/s"
    blessing = {"tfx_type": "ModelBlessing", "blessed": 0, "reasons": ["AUC = 0.6 is outside [0.75, None]"]}
    evaluated = figures(blessing=blessing, eval_metrics={"example_count": 3008.0, "auc": 0.6})
    assert evaluated == "NOT BLESSED: AUC = 0.6 is outside [0.75, None]  auc 0.6000  on 3,008 examples"
    assert step_figures(tmp_path / "missing") == ("", [])


def test_steps_that_read_and_write_local_files_import_no_tensorflow():
    """SchemaGen (a curated schema), the Pusher (a local registry) and the parent's checks need no
    TensorFlow: each kfp.local step would pay its import (seconds) for nothing."""
    code = (
        "import sys, components.schema_gen.executor, components.pusher.executor, components.common.readers, "
        "components.common.user_code, pipelines.local_run; "
        "print([m for m in ('tensorflow', 'tensorflow_data_validation') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
