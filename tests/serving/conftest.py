"""Fixtures for the serving tests: the committed fixture model, its rows, and the predictor
started as a real HTTP server on 127.0.0.1 (a free port), run in the serving environment.

These tests need the serving env (serving/.venv). When the pipeline env's pytest walks into
tests/serving (`make test` runs `pytest` over tests/), kserve is absent and the directory is
skipped at collection, so the two environments never mix.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("kserve") is None:  # the pipeline env: not ours to run
    collect_ignore_glob = ["test_*.py"]
else:
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx
    import pytest

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    HERE = Path(__file__).resolve().parent
    REPO = HERE.parents[1]
    FIXTURES = HERE / "fixtures"
    MODEL_BASE = FIXTURES / "model"
    MAX_BATCH = 100
    START_TIMEOUT_S = 120

    def free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @pytest.fixture(scope="session")
    def rows() -> dict:
        """rows.json: instances (raw feature dicts) + serving_default results from the pipeline env."""
        return json.loads((FIXTURES / "rows.json").read_text())

    @pytest.fixture(scope="session")
    def version_dir(rows) -> Path:
        path = MODEL_BASE / rows["model_version"]
        assert (path / "saved_model.pb").exists(), (
            f"{path} is missing: regenerate with `.venv/bin/python tests/serving/make_fixture_model.py`")
        return path

    @pytest.fixture(scope="session")
    def raw_signature(version_dir):
        import tensorflow as tf
        loaded = tf.saved_model.load(str(version_dir))
        fn = loaded.signatures["serving_raw"]
        fn._keepalive = loaded  # the concrete function needs its object alive
        return fn

    @pytest.fixture(scope="session")
    def direct_predict(raw_signature):
        """The SavedModel's serving_raw called in-process on a list of instances."""
        import numpy as np
        import tensorflow as tf
        specs = raw_signature.structured_input_signature[1]

        def predict(instances: list[dict]) -> np.ndarray:
            feed = {n: tf.constant([inst[n] for inst in instances], dtype=s.dtype) for n, s in specs.items()}
            return raw_signature(**feed)["probabilities"].numpy()
        return predict

    class Server:
        def __init__(self, url: str, request_log: Path, model_name: str, process: subprocess.Popen, log_path: Path):
            self.url, self.request_log, self.model_name = url, request_log, model_name
            self.process, self.log_path = process, log_path

        def client(self) -> httpx.Client:
            return httpx.Client(base_url=self.url, timeout=60)

        def request_log_lines(self) -> list[dict]:
            lines = []
            for path in sorted(self.request_log.glob("*.jsonl")):
                lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return lines

    def start_server(tmp: Path, model_dir: Path, *extra: str) -> Server:
        port = free_port()
        request_log = tmp / "request_log"
        out = tmp / "server.log"
        cmd = [sys.executable, "-m", "predictor", "--model_dir", str(model_dir), "--host", "127.0.0.1",
               "--http_port", str(port), "--enable_grpc", "false", "--request_log", str(request_log),
               "--max_batch_size", str(MAX_BATCH), *extra]
        env = {**os.environ, "PYTHONPATH": str(REPO / "serving")}
        with open(out, "wb") as f:
            process = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{out.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    models = httpx.get(f"{url}/v1/models", timeout=2).json()["models"]
                    return Server(url, request_log, models[0], process, out)
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        stop_server(process)
        raise RuntimeError(f"server not ready after {START_TIMEOUT_S}s:\n{out.read_text()[-4000:]}")

    def stop_server(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    @pytest.fixture(scope="session")
    def server(tmp_path_factory):
        """The predictor on the model BASE path (it must pick the fixture version itself)."""
        srv = start_server(tmp_path_factory.mktemp("server"), MODEL_BASE)
        yield srv
        stop_server(srv.process)
