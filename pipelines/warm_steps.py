"""Warm step processes for local runs. kfp.local's SubprocessRunner starts every step as a fresh
`python -m kfp.dsl.executor_main`, which pays the imports of TensorFlow, Beam and the TFX
libraries again (3-6 CPU-s a step). A zygote, started once per run, imports them and then, for
each step, forks a child that runs what the subprocess would have run: the same argv, env and
cwd, its stdout and stderr on a pipe streamed as kfp.local streams the subprocess's, its exit
status passed back. Anything else, or any doubt, runs as the plain subprocess.

Why a small os.fork server on a socketpair (socket.send_fds passes the step's pipe) and not
multiprocessing's forkserver: a forkserver child re-runs the parent's __main__ (the CLI) and
multiprocessing's start-up, ends with os._exit (no atexit handlers, no wait for the step's own
threads, as a real interpreter exit does), needs extra machinery to get the pipe as its fds 1
and 2, and the forkserver is never waited for, so its CPU time and the steps' vanish from the
parent's RUSAGE_CHILDREN. Here a child leaves the server loop and ends as `python -m` ends.

This patches a kfp.local internal, `subprocess_task_handler.run_local_subprocess(full_command)`,
checked against kfp 2.13.0 (tests/test_warm_steps.py fails if it changes).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import logging
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

EXECUTOR_MODULE = "kfp.dsl.executor_main"
_GAP = " " * 25
# The script of kfp 2.13.0's lightweight Python component command, `sh -ec SCRIPT SOURCE ARGS...`
# (component_factory._get_command_and_args_for_lightweight_component), whose `sh` this replaces.
KFP_SCRIPT = (
    'program_path=$(mktemp -d)\n\nprintf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    f"_KFP_RUNTIME=true python3 -m {EXECUTOR_MODULE}{_GAP}--component_module_path{_GAP}"
    f'"$program_path/ephemeral_component.py"{_GAP}"$@"\n'
)
READY_TIMEOUT_S = 120  # for the zygote's imports; past it the steps run as plain subprocesses
# What the steps import (each step's executor module is added): their import is the cost saved.
PRELOAD = (
    "tensorflow",
    "tf_keras",
    "apache_beam",
    "tensorflow_data_validation",
    "tensorflow_transform",
    "tensorflow_model_analysis",
    "contracts.config",
    "components.common.io",
)


def default_preload() -> list[str]:
    """PRELOAD and every components.<step>.executor, found without importing them."""
    spec = importlib.util.find_spec("components")
    roots = spec.submodule_search_locations if spec else []
    steps = sorted({p.parent.name for r in roots for p in Path(r).glob("*/executor.py")})
    return [*PRELOAD, *(f"components.{s}.executor" for s in steps)]


def component_args(full_command: list[str]) -> list[str] | None:
    """(SOURCE, ARGS...) of a kfp lightweight Python component command run by this Python;
    None for any other command."""
    script = KFP_SCRIPT.replace("python3", sys.executable)
    if len(full_command) < 4 or full_command[:3] != ["sh", "-ec", script]:
        return None
    return full_command[3:]


class _Channel:
    """Length-prefixed JSON messages on a stream socket, with fds passed alongside."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buf, self.fds = sock, b"", []

    def send(self, message: dict, fds: list[int] = ()) -> None:
        data = json.dumps(message).encode()
        data = struct.pack("!I", len(data)) + data
        sent = socket.send_fds(self.sock, [data], list(fds)) if fds else 0
        self.sock.sendall(data[sent:])

    def recv(self) -> tuple[dict | None, list[int]]:
        """The next message and the fds that came with it; (None, fds) at end of stream."""
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack("!I", self.buf[:4])[0]:
            chunk, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            self.fds += fds
            if not chunk:
                fds, self.fds = self.fds, []
                return None, fds
            self.buf += chunk
        size = struct.unpack("!I", self.buf[:4])[0]
        message, self.buf = json.loads(self.buf[4 : 4 + size]), self.buf[4 + size :]
        fds, self.fds = self.fds, []
        return message, fds

    def ready(self) -> bool:
        return bool(self.buf) or bool(select.select([self.sock], [], [], 0)[0])


class Zygote:
    """The parent's side: starts the zygote, hands it steps, and stops it."""

    def __init__(self, preload: list[str]):
        self.env, self.cwd = dict(os.environ), os.getcwd()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.errors = tempfile.TemporaryFile()  # the zygote's own output: shown if it fails
        # Started as kfp's `sh -ec` starts a step, for the same environment: this process's C
        # environ (libraries such as readline set variables os.environ does not show), PWD as
        # dash exports it, and _KFP_RUNTIME. Its stdout is not a terminal, as a step's is not.
        self.proc = subprocess.Popen(
            ["sh", "-ec", f'_KFP_RUNTIME=true exec "$0" -m {__name__} "$@"', sys.executable]
            + [str(theirs.fileno()), *preload],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
        )
        theirs.close()
        self.channel = _Channel(ours)
        self.usable: bool | None = None  # None until the zygote has said it is ready
        self.warm = self.fallbacks = 0
        self.cpu = 0.0  # CPU seconds of the finished warm steps (not in RUSAGE_CHILDREN)
        self.off_reason = ""
        self.preload_failed: list[str] = []  # modules the zygote could not import (the steps will)
        self._pid: int | None = None

    def _off(self, reason: str) -> None:
        if self.usable is not False:
            log.warning("warm steps off (%s): the steps run as plain subprocesses", reason)
        self.usable, self.off_reason = False, reason

    def _check_ready(self) -> bool:
        if self.usable is None and self.channel.ready():
            message, _ = self.channel.recv()
            if message is None:
                self._off(f"the zygote exited: {self._errors()}")
            else:
                self.usable, self.preload_failed = True, message["failed"]
        return bool(self.usable)

    def wait_ready(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for the zygote's imports; whether it can take steps."""
        if self.usable is None:
            select.select([self.channel.sock], [], [], timeout)
        return self._check_ready()

    def summary(self) -> dict:
        summary = {"warm": self.warm, "fallbacks": self.fallbacks, "off": self.off_reason or None}
        return summary | ({"preload_failed": self.preload_failed} if self.preload_failed else {})

    def _errors(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace").strip()[-2000:]

    def run(self, full_command: list[str]) -> int | None:
        """Runs a kfp Python-component command warm, as kfp.local runs a subprocess (its output
        printed line by line, then a blank line); its exit status, or None where it did not
        start (the caller runs the plain subprocess)."""
        args = component_args(full_command)
        # The first step waits for the zygote's imports: measured on two cores, running it as a
        # subprocess meanwhile slowed both down more than it saved.
        if args is None or self._pid is not None or not self.wait_ready(READY_TIMEOUT_S):
            if args is not None and self.usable is None:
                self._off(f"the zygote was not ready after {READY_TIMEOUT_S} s")
            return None
        if dict(os.environ) != self.env or os.getcwd() != self.cwd:  # the zygote has the old ones
            self.fallbacks += 1
            return None
        program = tempfile.mkdtemp(prefix="tmp.")  # as `mktemp -d`
        try:
            return self._run(program, args)
        finally:
            shutil.rmtree(program, ignore_errors=True)

    def _run(self, program: str, args: list[str]) -> int | None:
        module = os.path.join(program, "ephemeral_component.py")
        Path(module).write_bytes(os.fsencode(args[0]))  # as `printf "%s" "$0"`
        argv = ["--component_module_path", module, *args[1:]]
        read, write = os.pipe()
        try:
            # The step's stdin is this process's, as a subprocess's is.
            fds = [write, 0] if _valid_fd(0) else [write]
            self.channel.send({"argv": argv}, fds=fds)
            reply, _ = self.channel.recv()
        except OSError as err:
            reply = {"refused": f"{type(err).__name__}: {err}"}
        finally:
            os.close(write)
        if reply is None or "refused" in reply:
            os.close(read)
            self._off(reply["refused"] if reply else f"the zygote exited: {self._errors()}")
            self.fallbacks += 1
            return None
        self._pid = reply["pid"]
        with open(read, closefd=True) as out:  # as Popen(text=True): locale encoding, newlines
            for line in iter(out.readline, ""):
                print(line, end="")
            print("\n")
        reply, _ = self.channel.recv()
        self._pid = None
        if reply is None:
            self._off("the zygote exited during a step")
            print(f"warm steps: the zygote exited while this step ran; its exit status is unknown.\n{self._errors()}")
            return 1
        self.warm += 1
        self.cpu += reply["cpu"]
        return reply["exit"]

    def close(self) -> None:
        """Ends the zygote (it leaves when its socket closes) and any step still running."""
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, 15)
        self.channel.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


def _valid_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def warm_steps(enabled: bool = True, preload: list[str] | None = None):
    """While it lasts, kfp.local runs Python-component steps in children of a warm zygote;
    yields the Zygote (None when not enabled)."""
    # Linux only: fork_blocker reads /proc, and macOS's system libraries are not fork-safe
    # once loaded (the lock resolves for linux/x86_64 only anyway).
    if not enabled or not sys.platform.startswith("linux"):
        yield None
        return
    from kfp.local import subprocess_task_handler as handler

    real = handler.run_local_subprocess
    zygote = Zygote(default_preload() if preload is None else preload)

    def run_local_subprocess(full_command: list[str]) -> int:
        code = zygote.run(full_command)
        return real(full_command=full_command) if code is None else code

    handler.run_local_subprocess = run_local_subprocess
    try:
        yield zygote
    finally:
        handler.run_local_subprocess = real
        zygote.close()


# --- the zygote's side --------------------------------------------------------------------------


def fork_blocker() -> str | None:
    """Why forking now is unsafe, or None. Threads other than this one would be copied mid-work:
    none may run but the idle pools of OpenBLAS (its pthread_atfork handler stops them before a
    fork) and jemalloc's background thread (pyarrow's allocator; reset in the child)."""
    if threading.active_count() != 1:
        return f"{threading.active_count()} Python threads in the zygote"
    tasks = os.listdir("/proc/self/task")
    names = []
    for task in tasks:
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/comm") as f:
            names.append(f.read().strip())
    allowed = 1 + names.count("jemalloc_bg_thd") + _openblas_pool_threads()
    return None if len(tasks) <= allowed else f"{len(tasks)} native threads in the zygote ({allowed} expected)"


def _openblas_pool_threads() -> int:
    before = set(os.environ)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return 0
    finally:  # its import sets KMP_DUPLICATE_LIB_OK: not the zygote's to add to the steps' env
        for added in set(os.environ) - before:
            del os.environ[added]
    pools = [p for p in threadpool_info() if p.get("internal_api") == "openblas"]
    return sum(max(p["num_threads"] - 1, 0) for p in pools if p.get("threading_layer") == "pthreads")


def _preload(modules: list[str]) -> list[str]:
    """Imports what the steps import, in a step's order: kfp's executor and its logging set-up
    first (a library that configures logging when the root logger has no handler sees the
    same as in a step), then the modules. The names that failed (a step reports its own)."""
    from kfp.dsl import executor_main

    executor_main._setup_logging()
    # `python -m` runs it as __main__ and never imports it under its name.
    del sys.modules[EXECUTOR_MODULE]
    delattr(sys.modules["kfp.dsl"], "executor_main")
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            failed.append(name)
    return failed


def _serve(channel: _Channel, modules: list[str]) -> dict | None:
    """The zygote's loop: one step at a time. Returns the step's request in the forked child,
    None in the zygote when the run closes the socket."""
    channel.send({"ready": True, "failed": _preload(modules)})
    while True:
        request, fds = channel.recv()
        if request is None:
            return None
        if blocker := fork_blocker():
            channel.send({"refused": blocker})
            for fd in fds:
                os.close(fd)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        # What the zygote made is never collected in the child (the gc docs' advice for fork
        # servers): no copy-on-write of every page by the collector, and the child's interpreter
        # exit costs 0.3 CPU-s instead of 1.2 (measured with the default preload).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            return {**request, "fds": fds}
        for fd in fds:
            os.close(fd)
        channel.send({"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        channel.send({"exit": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime})


def _run_step(request: dict) -> None:
    """In the child: the step's fds and argv, then kfp's executor as `python -m` runs it. The cwd
    and environment are the zygote's, which are the step's (Zygote.run checks)."""
    import runpy

    out, *stdin = request["fds"]
    for fd, target in ((out, 1), (out, 2), *((fd, 0) for fd in stdin)):
        os.dup2(fd, target)
    for fd in {out, *stdin} - {0, 1, 2}:
        os.close(fd)
    if "numpy" in sys.modules:  # its global generator is seeded once per process
        sys.modules["numpy"].random.seed()
    sys.argv = [EXECUTOR_MODULE, *request["argv"]]  # run_module sets argv[0] to the module's file
    runpy.run_module(EXECUTOR_MODULE, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> None:
    channel = _Channel(socket.socket(fileno=int(argv[0])))
    try:
        request = _serve(channel, argv[1:])
    except (KeyboardInterrupt, ConnectionError):  # the run was interrupted or ended
        return
    if request is not None:  # the forked child: it ends as the step's interpreter would
        channel.sock.close()
        _run_step(request)


if __name__ == "__main__":
    main(sys.argv[1:])
