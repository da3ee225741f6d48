"""`--workers 2` (predictor/workers.py): two processes on one port, each loading the model; new
connections reach both, /metrics sums both whichever answers, SIGTERM stops both, and a worker
that exits takes the supervisor down with it (the container restarts)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from conftest import BINARY_EXAMPLE, start_server, stop_server

WORKERS = 2
REQUESTS = 50


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_pids(server) -> list[int]:
    """The supervisor's children (Linux /proc)."""
    pid = server.process.pid
    return sorted(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def _listeners(server) -> int:
    """Sockets listening on the server's port (one per worker bound, SO_REUSEPORT)."""
    port = f":{urlparse(server.url).port:04X}"
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(port) and row[3] == "0A")


def _wait_for_workers(server) -> list[int]:
    deadline = time.monotonic() + 120
    while _listeners(server) < WORKERS:  # the first one up answers readiness already
        assert server.process.poll() is None and time.monotonic() < deadline, server.log_path.read_text()[-3000:]
        time.sleep(0.2)
    return _worker_pids(server)


@pytest.fixture(scope="module")
def two_workers(fixtures, tmp_path_factory):
    fixture = fixtures[BINARY_EXAMPLE]
    server = start_server(tmp_path_factory.mktemp("workers"), fixture.model_base, "--workers", str(WORKERS))
    _wait_for_workers(server)
    yield server, fixture
    stop_server(server.process)


def _requests_total(text: str, code: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tabml_predictor_requests_total{") and f'code="{code}"' in line
    )


def test_two_workers_each_answer_and_metrics_sum_over_both(two_workers):
    server, fixture = two_workers
    pids = _worker_pids(server)
    assert len(pids) == WORKERS and server.process.pid not in pids
    url = f"{server.url}/v1/models/{server.model_name}:predict"
    for i in range(REQUESTS):  # a new connection each: the kernel spreads connections, not requests
        r = httpx.post(url, json={"instances": [fixture.instances[i % len(fixture.instances)]]}, timeout=30)
        assert r.status_code == 200, r.text
    # The request log: one file per process, named by its pid; both wrote (off the request
    # path, so the last lines may land a moment after the answers).
    deadline = time.monotonic() + 20
    while True:
        lines = {
            int(p.stem.rsplit("-", 1)[1]): len(p.read_text().splitlines()) for p in server.request_log.glob("*.jsonl")
        }
        if sum(lines.values()) >= REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert set(lines) == set(pids), (lines, pids)
    assert all(n > 0 for n in lines.values()) and sum(lines.values()) == REQUESTS, lines
    # /metrics answers the sum over the workers, whichever worker a scrape reaches.
    for _ in range(6):
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert _requests_total(text, "200") == REQUESTS
        assert "tabml_predictor_inflight_requests 0.0" in text


def test_sigterm_stops_every_worker(two_workers):
    server, _ = two_workers
    pids = _worker_pids(server)
    server.process.terminate()
    assert server.process.wait(timeout=60) == 0
    assert not any(_alive(pid) for pid in pids)


# The others write their pid and wait; worker 0 then exits with 3.
FAKE_WORKER = """
import os, sys, time
if os.environ["TABML_SERVING_WORKER"] == "0":
    while sum(name.isdigit() for name in os.listdir(sys.argv[1])) < 2:
        time.sleep(0.05)
    sys.exit(3)
open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
time.sleep(60)
"""


def test_a_worker_that_exits_stops_the_supervisor_and_the_others(tmp_path, monkeypatch):
    """The supervisor does not go on with fewer workers: it stops the others and exits with the
    worker's status (Kubernetes then restarts the container)."""
    import sys

    from predictor.workers import MULTIPROC_ENV, supervise

    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    started = time.monotonic()
    assert supervise([str(tmp_path)], 3, program=[sys.executable, "-c", FAKE_WORKER]) == 3
    assert time.monotonic() - started < 30
    others = [int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()]
    assert len(others) == 2 and not any(_alive(pid) for pid in others)


@pytest.mark.slow
def test_a_worker_killed_takes_the_others_down(fixtures, tmp_path):
    server = start_server(tmp_path, fixtures[BINARY_EXAMPLE].model_base, "--workers", str(WORKERS))
    pids = _wait_for_workers(server)
    try:
        os.kill(pids[0], signal.SIGKILL)
        assert server.process.wait(timeout=60) != 0
        assert not any(_alive(pid) for pid in pids)
    finally:
        stop_server(server.process)


def test_the_shared_port_socket_sends_without_delay():
    """Accepted connections inherit TCP_NODELAY from the listening socket: without it two workers
    answered each request after the client's delayed ACK (p50 48 ms instead of 3.8 ms)."""
    import socket

    from predictor.workers import reuse_port_socket

    sock = reuse_port_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
    finally:
        sock.close()
