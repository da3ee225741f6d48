"""Warm step processes (pipelines/warm_steps.py): a step forked from the zygote sees what a
kfp.local subprocess sees, fails as it fails, and anything doubtful runs as the subprocess."""

import inspect
import json
import os
import threading
import time

import pytest
from kfp import dsl, local
from kfp.dsl import Output

from pipelines import warm_steps

if os.environ.get("WARM_TEST_THREAD"):  # imported by a zygote in test_thread_in_zygote_falls_back
    threading.Thread(target=time.sleep, args=(120,), daemon=True).start()

LIGHT = ["json"]  # a zygote that preloads next to nothing starts in a second


@dsl.component(install_kfp_package=False)
def child_view(note: str, view: Output[dsl.Artifact]):
    """What a step can see of its process."""
    import json
    import logging
    import os
    import sys

    print(f"stdout {note}")
    print("stderr line", file=sys.stderr)
    logging.info("logged")
    main = sys.modules["__main__"]
    seen = {
        "argv": sys.argv[1:3],
        "argv0": os.path.basename(sys.argv[0]),
        "main": getattr(main, "__spec__", None) and main.__spec__.name,
        "executor_main_imported": "kfp.dsl.executor_main" in sys.modules,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "stdout_tty": sys.stdout.isatty(),
        "stdout_line_buffering": sys.stdout.line_buffering,
        "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers],
        "note": note,
    }
    with open(view.path, "w") as f:
        json.dump(seen, f)


@dsl.component(install_kfp_package=False)
def failing(message: str):
    raise ValueError(message)


@dsl.component(install_kfp_package=False)
def slow(seconds: float):
    import time

    time.sleep(seconds)


def _view(tmp_path, capfd, **kwargs) -> tuple[dict, str]:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)
    task = child_view(**kwargs)
    with open(task.outputs["view"].path) as f:
        return json.load(f), capfd.readouterr().out


def _started(zygote: warm_steps.Zygote) -> None:
    zygote.wait_ready(60)


def test_kfp_internal_is_what_was_checked():
    """kfp.local's subprocess launcher and the command it runs are as warm_steps expects."""
    from kfp.local import subprocess_task_handler as handler

    assert list(inspect.signature(handler.run_local_subprocess).parameters) == ["full_command"]
    assert "run_local_subprocess(full_command=full_command)" in inspect.getsource(handler.SubprocessTaskHandler.run)
    command = child_view.component_spec.implementation.container.command
    assert command[:3] == ["sh", "-ec", warm_steps.KFP_SCRIPT]
    assert warm_steps.component_args(["sh", "-ec", "echo", "x"]) is None


def test_warm_step_sees_what_a_subprocess_sees(tmp_path, capfd):
    cold, cold_out = _view(tmp_path / "cold", capfd, note="cold")
    with warm_steps.warm_steps(preload=LIGHT) as zygote:
        _started(zygote)
        warm, warm_out = _view(tmp_path / "warm", capfd, note="warm")
        assert zygote.warm == 1 and zygote.fallbacks == 0
        assert zygote.cpu > 0
    assert zygote.proc.returncode == 0  # it left with the run
    for view in (cold, warm):  # the component's own directory: a new temporary one each time
        program = os.path.dirname(view["argv"][1])
        assert view.pop("path0") == program and view["cwd"] != program
        view["argv"][1] = os.path.basename(view["argv"][1])
        view["note"] = ""
    assert warm["env"] == cold["env"]
    assert warm == cold
    assert warm["main"] == "kfp.dsl.executor_main" and not warm["executor_main_imported"]
    assert warm["env"]["_KFP_RUNTIME"] == "true"
    for out, note in ((cold_out, "cold"), (warm_out, "warm")):
        assert f"stdout {note}" in out and "stderr line" in out
        assert "[KFP Executor" in out and "logged" in out


def test_failing_step_fails_the_same(tmp_path, capfd):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)
    with warm_steps.warm_steps(preload=LIGHT) as zygote:
        _started(zygote)
        with pytest.raises(RuntimeError, match="FAILURE"):
            failing(message="broken on purpose")
        assert zygote.warm == 1
    out = capfd.readouterr().out
    assert "ValueError: broken on purpose" in out and "Traceback" in out


def test_thread_in_zygote_falls_back(tmp_path, capfd, monkeypatch, caplog):
    monkeypatch.setenv("WARM_TEST_THREAD", "1")
    with warm_steps.warm_steps(preload=["tests.test_warm_steps"]) as zygote:
        _started(zygote)
        view, _ = _view(tmp_path, capfd, note="thread")
        assert zygote.warm == 0 and zygote.fallbacks == 1
        assert "Python threads" in zygote.off_reason
    assert view["note"] == "thread"


def test_dead_zygote_falls_back(tmp_path, capfd):
    with warm_steps.warm_steps(preload=LIGHT) as zygote:
        _started(zygote)
        zygote.proc.kill()
        zygote.proc.wait()
        view, _ = _view(tmp_path, capfd, note="dead")
        assert zygote.warm == 0 and zygote.usable is False
    assert view["note"] == "dead"


def test_zygote_dying_during_a_step_fails_it_clearly(tmp_path, capfd):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path), raise_on_error=True)
    with warm_steps.warm_steps(preload=LIGHT) as zygote:
        _started(zygote)
        threading.Timer(1.0, zygote.proc.kill).start()
        with pytest.raises(RuntimeError, match="FAILURE"):
            slow(seconds=3.0)
        assert zygote.usable is False
    assert "the zygote exited while this step ran" in capfd.readouterr().out


def test_other_commands_and_changed_env_run_as_subprocesses(tmp_path, capfd, monkeypatch):
    from kfp.local import subprocess_task_handler as handler

    real = handler.run_local_subprocess
    with warm_steps.warm_steps(preload=LIGHT) as zygote:
        _started(zygote)
        assert handler.run_local_subprocess is not real
        assert handler.run_local_subprocess(full_command=["sh", "-ec", "exit 3"]) == 3
        monkeypatch.setenv("WARM_TEST_CHANGED", "1")  # the zygote imported without it
        view, _ = _view(tmp_path, capfd, note="changed")
        assert zygote.warm == 0 and view["env"]["WARM_TEST_CHANGED"] == "1"
    assert handler.run_local_subprocess is real


def test_fork_blocker_sees_python_threads():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert "Python threads" in warm_steps.fork_blocker()
    finally:
        stop.set()
        thread.join()


def test_local_run_warm_logs_times_and_fails_as_before(tmp_path, monkeypatch):
    """run_pipeline_locally(warm=True) on the tiny pipelines of test_local_progress.py: the same
    step logs, CPU seconds and RunFailed (the step, its log's end)."""
    from pipelines.local_run import RunFailed, run_pipeline_locally
    from tests.test_local_progress import tiny, tiny_failing

    monkeypatch.setattr(warm_steps, "default_preload", lambda: LIGHT)
    started = []
    real_run = warm_steps.Zygote.run

    def counted(self, full_command):
        code = real_run(self, full_command)
        started.append(code)
        return code

    monkeypatch.setattr(warm_steps.Zygote, "run", counted)
    run = run_pipeline_locally(tmp_path / "ok", tiny, warm=True)
    log = (run.logs / "say.log").read_text()
    assert "said: hello" in log and "Got executor_input" in log
    timings = json.loads((run.logs / "steps.json").read_text())
    assert timings["warm_steps"] == {"warm": 1, "fallbacks": 0, "off": None}
    assert 0.01 < timings["cpu_seconds"]["say"] < 60  # the forked step's, from the zygote's wait4

    with pytest.raises(RunFailed) as failed:
        run_pipeline_locally(tmp_path / "failing", tiny_failing, warm=True)
    assert started == [0, 0, 1]  # every step ran warm; the failing one exited with 1
    err = failed.value
    assert err.step == "fail" and "about to fail: now" in err.log.read_text()
    message = str(err)
    assert f"the last 20 lines of {err.log}" in message and "ValueError: broken on purpose" in message
