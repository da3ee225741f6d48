"""The per-request shortcuts behind the lean v1 path: each gives what the plain way gave."""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
from conftest import REPO, each_task
from prometheus_client import CollectorRegistry, Histogram

from predictor import features as F
from predictor.model import FlatSignature, TabularModel, _new_id, observe_many, structured_call
from predictor.server import TabularModelServer, build_parser


def _samples(histogram: Histogram) -> list[tuple[str, dict, float]]:
    return [(s.name, s.labels, s.value) for m in histogram.collect() for s in m.samples if s.name != "h_created"]


@pytest.mark.parametrize(
    "values",
    [
        [0.5, 0.1, 0.1000001, 0.0, 1.0, 0.99, 0.25, 0.75],  # on and next to the bounds
        [-3.0, 7.5, math.inf, 0.3],  # below the first bound, above the last finite one
        [0.2],
        np.random.default_rng(0).random(64).astype(np.float32),
    ],
)
def test_observe_many_counts_as_observe_does(values):
    buckets = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    one, many = (Histogram("h", "h", ["m"], buckets=buckets, registry=CollectorRegistry()) for _ in range(2))
    for value in np.asarray(values, dtype=np.float32).astype(np.float64).tolist():
        one.labels("x").observe(value)
    observe_many(many.labels("x"), np.asarray(values, dtype=np.float32))
    expected, got = _samples(one), _samples(many)
    assert [s[:2] for s in got] == [s[:2] for s in expected]
    for (name, _, want), (_, _, have) in zip(expected, got, strict=True):
        assert have == pytest.approx(want, rel=1e-12), name


def test_observe_many_without_the_internals_observes_each_value():
    class Plain:
        def __init__(self):
            self.seen = []

        def observe(self, value):
            self.seen.append(value)

    plain = Plain()
    observe_many(plain, np.array([0.5, 2.0], dtype=np.float32))
    assert plain.seen == [0.5, 2.0]


def test_request_ids_are_random_version_4_uuids():
    ids = {_new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for request_id in list(ids)[:20]:
        parsed = uuid.UUID(hex=request_id)
        assert parsed.version == 4 and parsed.hex == request_id and len(request_id) == 32


def test_logged_rows_are_built_only_when_read():
    specs = [F.FeatureSpec("n", F.INT64), F.FeatureSpec("s", F.STRING), F.FeatureSpec("x", F.FLOAT32)]
    instances = [{"n": i, "s": f"v{i}", "x": i if i % 2 else i + 0.5, "extra": 1} for i in range(4)]
    _, logged = F.from_v1(specs, {"instances": instances}, 10)
    assert isinstance(logged, F.LoggedRows) and logged._rows is None  # nothing built on the request path
    assert logged == [{"n": i, "s": f"v{i}", "x": float(i if i % 2 else i + 0.5)} for i in range(4)]
    assert [type(r["x"]) for r in logged] == [float] * 4 and len(logged) == 4


def test_the_lean_path_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("FAST_V1", raising=False)
    assert build_parser().parse_args([]).fast_v1 is True
    assert build_parser().parse_args(["--no-fast_v1"]).fast_v1 is False
    monkeypatch.setenv("FAST_V1", "0")
    assert build_parser().parse_args([]).fast_v1 is False


def test_the_workers_supervisor_does_not_import_tensorflow():
    """`--workers N`: the supervisor process holds no TensorFlow (memory in a pod whose limit
    is shared with N workers that each do)."""
    code = "import sys, predictor.server; print('tensorflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "serving", capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]


@each_task
def test_the_flat_signature_call_answers_as_the_keyword_call(fixtures, example):
    """The model is called with the flat list of tensors (FlatSignature): the same outputs, to
    the bit, as the signature called by keyword, on the fixture's rows one by one and together."""
    fixture = fixtures[example]
    model = TabularModel("m", str(fixture.version_dir))
    model.load()
    assert model._flat is not None, "the flat call should apply to a pushed model"
    instances = fixture.instances
    for batch in ([instances[0]], instances[1:3], (instances * 64)[:64]):
        arrays, _ = F.from_v1(model.specs, {"instances": batch}, 1024)
        got, expected = model.infer(arrays), structured_call(model._fn, arrays, model.head.names)
        assert sorted(got) == sorted(expected) == sorted(model.head.names)
        for name in expected:
            assert got[name].dtype == expected[name].dtype and np.array_equal(got[name], expected[name]), name


def test_a_flat_call_that_does_not_answer_as_the_keyword_call_is_not_used(fixtures, monkeypatch, caplog):
    model = TabularModel("m", str(fixtures["penguins"].version_dir))
    model.load()
    fn, names = model._fn, model.head.names
    assert FlatSignature.checked(fn, model.specs, names, "here") is not None
    call = FlatSignature.__call__
    monkeypatch.setattr(FlatSignature, "__call__", lambda self, arrays: {**call(self, arrays), names[0]: np.zeros(1)})
    with caplog.at_level(logging.WARNING, logger="kserve.tabml"):
        assert FlatSignature.checked(fn, model.specs, names, "here") is None
    assert "called by keyword" in caplog.text and "probe batch" in caplog.text
    monkeypatch.undo()

    class NoInternals:  # a callable without ConcreteFunction's inner function
        function_type = fn.function_type

        def __call__(self, **kwargs):
            return fn(**kwargs)

    assert FlatSignature.checked(NoInternals(), model.specs, names, "here") is None


def test_the_model_is_called_on_one_thread_per_process_unless_told(monkeypatch):
    monkeypatch.delenv("MAX_ASYNCIO_WORKERS", raising=False)
    assert build_parser().parse_args([]).max_asyncio_workers == 1
    assert build_parser().parse_args(["--max_asyncio_workers", "4"]).max_asyncio_workers == 4
    monkeypatch.setenv("MAX_ASYNCIO_WORKERS", "3")
    assert build_parser().parse_args([]).max_asyncio_workers == 3


def test_the_event_loop_gets_kserves_setup():
    """setup_event_loop applies to the loop the server runs on (uvloop's, made by a factory):
    --max_asyncio_workers sizes the thread pool that runs the model."""
    server = TabularModelServer(max_asyncio_workers=3, enable_grpc=False)
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        seen["handler"] = loop.get_exception_handler()
        # more calls at once than threads: each thread takes several in turn
        seen["threads"] = await asyncio.gather(*(loop.run_in_executor(None, _thread_after, 0.05) for _ in range(9)))

    server.run_on_event_loop(main())
    assert len(set(seen["threads"])) == 3 and all(t.startswith("ThreadPoolExecutor") for t in seen["threads"])
    assert seen["handler"] == server.default_exception_handler


def _thread_after(seconds: float) -> str:
    time.sleep(seconds)
    return threading.current_thread().name
