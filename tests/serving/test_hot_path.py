"""The per-request shortcuts behind the lean v1 path: each gives what the plain way gave."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid

import numpy as np
import pytest
from conftest import REPO
from prometheus_client import CollectorRegistry, Histogram

from predictor import features as F
from predictor.model import _new_id, observe_many
from predictor.server import build_parser


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
