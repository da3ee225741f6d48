"""Fixtures for the serving tests: the committed fixture models (one per task), their rows, and
the predictor started as a real HTTP server on 127.0.0.1 (a free port), run in the serving
environment.

    fixtures/chicago_taxi/   binary      (examples/chicago_taxi)
    fixtures/penguins/       multiclass  (examples/penguins)
    fixtures/auto_mpg/       regression  (examples/auto_mpg)

each with model/<version>/ (a pushed version) and rows.json (instances + the pipeline env's
serving_default outputs); regenerate with `.venv/bin/python tests/serving/make_fixture_model.py
--example <name>`. One server per fixture is started the first time a test asks for it and
shared by every test of the session.

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
    from dataclasses import dataclass
    from pathlib import Path

    import httpx
    import pytest

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    HERE = Path(__file__).resolve().parent
    REPO = HERE.parents[1]
    FIXTURES = HERE / "fixtures"
    # example -> task
    EXAMPLES = {"chicago_taxi": "binary", "penguins": "multiclass", "auto_mpg": "regression"}
    BINARY_EXAMPLE = "chicago_taxi"
    # One test per fixture, its id naming the task (`pytest tests/serving -k multiclass`).
    each_task = pytest.mark.parametrize("example", list(EXAMPLES), ids=[f"{t}-{e}" for e, t in EXAMPLES.items()])
    MAX_BATCH = 100
    START_TIMEOUT_S = 120

    def free_port() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @dataclass
    class Fixture:
        example: str
        rows: dict  # rows.json

        @property
        def task(self) -> str:
            return self.rows["task"]

        @property
        def model_base(self) -> Path:
            return FIXTURES / self.example / "model"

        @property
        def version_dir(self) -> Path:
            path = self.model_base / self.rows["model_version"]
            assert (path / "saved_model.pb").exists(), (
                f"{path} is missing: regenerate with `.venv/bin/python tests/serving/make_fixture_model.py "
                f"--example {self.example}`"
            )
            return path

        @property
        def instances(self) -> list[dict]:
            return self.rows["instances"]

        @property
        def expected(self) -> dict:
            """serving_default's outputs on the instances, computed in the pipeline env."""
            return self.rows["expected_serving_default"]

    def load_fixture(example: str) -> Fixture:
        fixture = Fixture(example, json.loads((FIXTURES / example / "rows.json").read_text()))
        assert fixture.task == EXAMPLES[example], (example, fixture.task)
        return fixture

    @pytest.fixture(scope="session")
    def fixtures() -> dict[str, Fixture]:
        return {example: load_fixture(example) for example in EXAMPLES}

    @pytest.fixture(scope="session")
    def rows(fixtures) -> dict:
        """The binary (taxi) fixture's rows.json."""
        return fixtures[BINARY_EXAMPLE].rows

    @pytest.fixture(scope="session")
    def version_dir(fixtures) -> Path:
        """The binary (taxi) fixture's version directory."""
        return fixtures[BINARY_EXAMPLE].version_dir

    class DirectModels:
        """Each fixture's SavedModel loaded in this process; `predict` calls its serving_raw."""

        def __init__(self, fixtures: dict[str, Fixture]):
            self.fixtures = fixtures
            self._signatures: dict = {}

        def signature(self, example: str):
            if example not in self._signatures:
                import tensorflow as tf

                loaded = tf.saved_model.load(str(self.fixtures[example].version_dir))
                fn = loaded.signatures["serving_raw"]
                fn._keepalive = loaded  # the concrete function needs its object alive
                self._signatures[example] = fn
            return self._signatures[example]

        def predict(self, example: str, instances: list[dict]) -> dict:
            """{output name: numpy array}; strings decoded."""
            import numpy as np
            import tensorflow as tf

            fn = self.signature(example)
            specs = fn.structured_input_signature[1]
            feed = {n: tf.constant([inst[n] for inst in instances], dtype=s.dtype) for n, s in specs.items()}
            out = {}
            for name, tensor in fn(**feed).items():
                value = tensor.numpy()
                if value.dtype == object:
                    value = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value)
                out[name] = value
            return out

    @pytest.fixture(scope="session")
    def direct(fixtures) -> DirectModels:
        return DirectModels(fixtures)

    @pytest.fixture(scope="session")
    def direct_predict(direct):
        """The binary (taxi) SavedModel's serving_raw probabilities, in-process."""
        return lambda instances: direct.predict(BINARY_EXAMPLE, instances)["probabilities"]

    class Server:
        def __init__(self, url: str, request_log: Path, model_name: str, process: subprocess.Popen, log_path: Path):
            self.url, self.request_log, self.model_name = url, request_log, model_name
            self.process, self.log_path = process, log_path

        def client(self) -> httpx.Client:
            return httpx.Client(base_url=self.url, timeout=60)

        def request_log_lines(self, until=None, timeout: float = 10) -> list[dict]:
            """The request log's lines; with `until(lines)`, once it holds (the log is written
            by a background thread a moment after the answers)."""
            deadline = time.monotonic() + timeout
            while True:
                lines = []
                for path in sorted(self.request_log.glob("*.jsonl")):
                    text = path.read_text()
                    text = text[: text.rfind("\n") + 1]  # a line being written: not yet
                    lines += [json.loads(line) for line in text.splitlines() if line.strip()]
                if until is None or until(lines) or time.monotonic() > deadline:
                    return lines
                time.sleep(0.05)

        def request_log_lines_of(self, *request_ids: str) -> list[dict]:
            """The lines once every one of `request_ids` has some."""
            return self.request_log_lines(lambda lines: set(request_ids) <= {x.get("request_id") for x in lines})

    @dataclass
    class Launched:
        process: subprocess.Popen
        url: str
        request_log: Path
        out: Path

    def launch_server(tmp: Path, model_dir: Path, *extra: str) -> Launched:
        """`python -m predictor` on 127.0.0.1, not waited for."""
        port = free_port()
        request_log = tmp / "request_log"
        out = tmp / "server.log"
        cmd = [
            sys.executable,
            "-m",
            "predictor",
            "--model_dir",
            str(model_dir),
            "--host",
            "127.0.0.1",
            "--http_port",
            str(port),
            "--enable_grpc",
            "false",
            "--request_log",
            str(request_log),
            "--max_batch_size",
            str(MAX_BATCH),
            *extra,
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO / "serving")}
        with open(out, "wb") as f:
            process = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        return Launched(process, f"http://127.0.0.1:{port}", request_log, out)

    def start_server(tmp: Path, model_dir: Path, *extra: str) -> Server:
        return wait_ready(launch_server(tmp, model_dir, *extra))

    def wait_ready(launched: Launched) -> Server:
        process, url, request_log, out = launched.process, launched.url, launched.request_log, launched.out
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
            time.sleep(0.2)
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

    class Servers:
        """One predictor per fixture, each on the model BASE path (it must pick the fixture
        version itself), shared by the whole session. The first request launches all of them
        at once (each loads TensorFlow: in parallel it takes about as long as one) and waits
        for the one asked for."""

        def __init__(self, fixtures: dict[str, Fixture], tmp_path_factory):
            self.fixtures, self.tmp_path_factory = fixtures, tmp_path_factory
            self._launched: dict[str, Launched] = {}
            self._ready: dict[str, Server] = {}

        def __getitem__(self, example: str) -> Server:
            if not self._launched:
                for name, fixture in self.fixtures.items():
                    tmp = self.tmp_path_factory.mktemp(f"server-{name}")
                    self._launched[name] = launch_server(tmp, fixture.model_base)
            if example not in self._ready:
                self._ready[example] = wait_ready(self._launched[example])
            return self._ready[example]

        def stop(self) -> None:
            for launched in self._launched.values():
                stop_server(launched.process)

    @pytest.fixture(scope="session")
    def servers(fixtures, tmp_path_factory):
        started = Servers(fixtures, tmp_path_factory)
        yield started
        started.stop()

    @pytest.fixture(scope="session")
    def server(servers) -> Server:
        """The binary (taxi) fixture's predictor."""
        return servers[BINARY_EXAMPLE]
