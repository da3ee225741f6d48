"""Several predictor processes on one port (`--workers N`), each loading the model itself.

KServe's own `--workers` spawns children that unpickle the parent's loaded model (TensorFlow
objects, the request log's lock): it cannot work here. Instead the supervisor (this module,
which never loads TensorFlow) starts N `python -m predictor ... --workers 1` children. Each
loads the model and then binds the port with SO_REUSEPORT, so the kernel spreads new
connections over the children that are up (a child still loading gets none; a keep-alive
connection stays with one child).

Metrics: the children share a PROMETHEUS_MULTIPROC_DIR (the one in the environment, else a
fresh temporary directory), so /metrics on any child answers the sum over all of them
(request_metrics.metrics_handler). Request logs: one file per process in a `--request_log`
directory, as with one worker.

If a child exits, the supervisor stops the others and exits with the child's status (at least
1): Kubernetes restarts the container, as it would a single process that died. SIGTERM/SIGINT
are passed to the children, which finish their requests within KServe's grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

log = logging.getLogger("kserve.tabml")

WORKER_ENV = "TABML_SERVING_WORKER"  # set in each child: its index; it binds with SO_REUSEPORT
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STOP_TIMEOUT_S = 40  # KServe's grace period (30 s) and a margin


def is_worker() -> bool:
    return WORKER_ENV in os.environ


def reuse_port_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening socket that other workers bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Accepted connections inherit it (Linux): without it, a response written in two sends waits
    # for the client's delayed ACK, 40 ms a request (measured: p50 48 ms with two workers).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _metrics_dir() -> str:
    path = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="tabml-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):  # a previous run's counts would be summed in
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return path


def supervise(argv: list[str], workers: int, program: list[str] | None = None) -> int:
    """Runs `workers` children `program argv --workers 1` (program: the predictor) until one
    exits or a signal stops them; returns the exit status."""
    env = {**os.environ, MULTIPROC_ENV: _metrics_dir()}
    command = [*(program or [sys.executable, "-m", "predictor"]), *argv, "--workers", "1"]
    children = [subprocess.Popen(command, env={**env, WORKER_ENV: str(i)}) for i in range(workers)]
    log.info("started %d predictor workers: pids %s", workers, [c.pid for c in children])
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        while not stopping:
            exited = [c for c in children if c.poll() is not None]
            if exited:
                code = exited[0].returncode
                status = code if code > 0 else 1  # killed by a signal (negative) or exited 0 early
                log.error("predictor worker %d exited with %s: stopping the others", exited[0].pid, code)
                stop(signal.SIGTERM, None)
                break
            time.sleep(0.2)
    finally:
        if not stopping:  # interrupted by an exception: no orphans either
            stop(signal.SIGTERM, None)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
