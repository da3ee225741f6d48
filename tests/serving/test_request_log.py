"""The request log's writer (predictor/request_log.py): sampling, the background writer
flushing every line on close, lines dropped and counted when the queue is full."""

from __future__ import annotations

import json
import threading
import time

import pytest

from predictor import request_log as RL


def _log(logger: RL.RequestLogger, request_id: str, rows: int = 2) -> None:
    logger.predictions(
        request_id=request_id,
        model_name="m",
        model_version="7",
        task="binary",
        protocol="v1",
        features=[{"x": i, "city": "Zürich"} for i in range(rows)],
        predictions=[i / 10 for i in range(rows)],
        latency_ms=1.23456,
        out_of_domain=[["x"]] + [[]] * (rows - 1),
    )


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_background_writer_flushes_every_line_on_close(tmp_path):
    path = tmp_path / "requests.jsonl"
    logger = RL.RequestLogger(str(path), "m")
    ids = [f"req-{i}" for i in range(500)]
    for request_id in ids:
        _log(logger, request_id)
    logger.rejected(request_id="bad", model_name="m", model_version="7", protocol="v2", error="no 'x'")
    logger.close()
    lines = _lines(path)
    assert len(lines) == 2 * 500 + 1
    assert [(r["request_id"], r["index"]) for r in lines[:-1]] == [(i, k) for i in ids for k in (0, 1)]
    first = lines[0]
    assert first["features"] == {"x": 0, "city": "Zürich"} and first["prediction"] == 0.0
    assert first["batch_size"] == 2 and first["latency_ms"] == 1.235 and first["out_of_domain"] == ["x"]
    assert "out_of_domain" not in lines[1] and "sample" not in first
    assert lines[-1] | {"timestamp": None} == {
        "timestamp": None,
        "request_id": "bad",
        "model_name": "m",
        "model_version": "7",
        "protocol": "v2",
        "status": 400,
        "error": "no 'x'",
    }
    # after close, a late request (one still in flight at shutdown) is written by its caller
    _log(logger, "late", rows=1)
    assert _lines(path)[-1]["request_id"] == "late"
    assert logger.dropped == 0


def test_the_server_thread_does_not_wait_for_a_slow_sink(tmp_path, monkeypatch):
    logger = RL.RequestLogger(str(tmp_path / "requests.jsonl"), "m")
    release = threading.Event()
    write = logger._write
    monkeypatch.setattr(logger, "_write", lambda batches: (release.wait(10), write(batches)))
    start = time.perf_counter()
    for i in range(200):
        _log(logger, f"r{i}")
    queued_in = time.perf_counter() - start
    release.set()
    logger.close()
    assert queued_in < 0.5, queued_in  # each call only queues (the sink was blocked throughout)
    assert len(_lines(tmp_path / "requests.jsonl")) == 400


def test_sampling_is_per_request_deterministic_and_marked(tmp_path, monkeypatch):
    ids = [f"req-{i}" for i in range(4000)]
    kept = {i for i in ids if RL.sampled(i, 0.25)}
    assert 800 < len(kept) < 1200  # about a quarter
    assert kept == {i for i in ids if RL.sampled(i, 0.25)}  # the same ids every time
    assert kept <= {i for i in ids if RL.sampled(i, 0.5)}  # a higher rate keeps a superset

    monkeypatch.setenv(RL.SAMPLE_ENV, "0.25")  # the default when no rate is given
    path = tmp_path / "requests.jsonl"
    logger = RL.RequestLogger(str(path), "m")
    assert logger.sample == 0.25
    for request_id in ids:
        _log(logger, request_id)
    logger.rejected(request_id="req-x", model_name="m", model_version="7", protocol="v1", error="e")
    logger.close()
    lines = _lines(path)
    predicted = [r for r in lines if "prediction" in r]
    assert {r["request_id"] for r in predicted} == kept  # whole requests: both rows of each
    assert len(predicted) == 2 * len(kept) and all(r["sample"] == 0.25 for r in predicted)
    assert [r["request_id"] for r in lines if r.get("status") == 400] == ["req-x"]  # never sampled out

    none = RL.RequestLogger(str(tmp_path / "none.jsonl"), "m", sample=0)
    _log(none, "a")
    none.close()
    assert (tmp_path / "none.jsonl").read_text() == ""


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "half"])
def test_a_sample_rate_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match=r"request_log_sample.*0\.\.1"):
        RL.RequestLogger(None, "m", sample=bad)


def test_a_full_queue_drops_whole_requests_and_counts_them(tmp_path, monkeypatch):
    counted = []
    path = tmp_path / "requests.jsonl"
    logger = RL.RequestLogger(str(path), "m", max_pending=10, on_drop=counted.append)
    release = threading.Event()
    write = logger._write
    monkeypatch.setattr(logger, "_write", lambda batches: (release.wait(10), write(batches)))
    for i in range(8):  # 2 lines each: 5 fit in 10, the 3 after are dropped
        _log(logger, f"r{i}")
    assert logger.dropped == 6 and counted == [2, 2, 2]
    release.set()
    logger.close()
    assert [r["request_id"] for r in _lines(path)] == [f"r{i}" for i in range(5) for _ in (0, 1)]
    # once written, the queue has room again
    _log(logger, "after")
    assert logger.dropped == 6


def test_numpy_values_are_written_as_numbers(tmp_path):
    """A caller's numpy scalars (predictions, features) must not cost the batch its lines."""
    import numpy as np

    logger = RL.RequestLogger(str(tmp_path / "log.jsonl"), "m")
    logger.predictions(
        request_id="np",
        model_name="m",
        model_version="1",
        task="binary",
        protocol="v1",
        features=[{"x": np.float64(1.5), "n": np.int64(3)}],
        predictions=[np.float32(0.25)],
    )
    logger.close()
    [line] = _lines(tmp_path / "log.jsonl")
    assert (line["features"], line["prediction"]) == ({"x": 1.5, "n": 3}, 0.25)


def test_a_failed_write_is_counted_as_dropped(tmp_path):
    dropped = []
    logger = RL.RequestLogger(str(tmp_path / "log.jsonl"), "m", on_drop=dropped.append)
    logger.predictions(
        request_id="bad",
        model_name="m",
        model_version="1",
        task="binary",
        protocol="v1",
        features=[{"x": object()}],  # not JSON
        predictions=[0.5],
    )
    _log(logger, "good", rows=2)
    logger.close()
    assert [line["request_id"] for line in _lines(tmp_path / "log.jsonl")] == ["good", "good"]
    assert logger.dropped == 1 and dropped == [1]


def test_standard_output(capsys):
    logger = RL.RequestLogger("-", "m")
    _log(logger, "to-stdout", rows=1)
    logger.close()
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["request_id"] for line in out] == ["to-stdout"]


def test_logging_setup_flags_levels_and_middleware(monkeypatch):
    """--request_log_sample / --access_log with their env defaults; the per-request lines off."""
    import argparse
    import logging

    from fastapi import FastAPI
    from timing_asgi import TimingMiddleware
    from timing_asgi.integrations import StarletteScopeToName

    from predictor import logging_setup

    monkeypatch.setenv(RL.SAMPLE_ENV, "0.1")
    monkeypatch.setenv(logging_setup.ACCESS_LOG_ENV, "1")
    parser = argparse.ArgumentParser()
    logging_setup.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.request_log_sample, args.access_log) == (0.1, True)
    args = parser.parse_args(["--request_log_sample", "0.5", "--no-access_log"])
    assert (args.request_log_sample, args.access_log) == (0.5, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--request_log_sample", "2"])

    saved = {name: logging.getLogger(name).level for name in ("kserve.trace", "uvicorn.access")}
    try:
        logging_setup.configure(access_log=False)
        assert not logging.getLogger("kserve.trace").isEnabledFor(logging.INFO)
        assert not logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
        logging_setup.configure(access_log=True)
        assert logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
        assert not logging.getLogger("kserve.trace").isEnabledFor(logging.INFO)
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

    app = FastAPI()
    namer = StarletteScopeToName(prefix="kserve.io", starlette_app=app)
    app.add_middleware(TimingMiddleware, client=None, metric_namer=namer)
    assert [m.cls for m in app.user_middleware] == [TimingMiddleware]
    logging_setup.without_timing_middleware(app)
    assert app.user_middleware == []


def test_requests_arriving_together_share_a_write(tmp_path, monkeypatch):
    """The writer waits a moment after a wake-up: requests a few ms apart go out in one write
    (one thread switch per batch, not one per request)."""
    logger = RL.RequestLogger(str(tmp_path / "log.jsonl"), "m")
    writes = []
    write = logger._write
    monkeypatch.setattr(logger, "_write", lambda chunks: (writes.append(len(chunks)), write(chunks)))
    for i in range(50):
        _log(logger, f"r{i}")
        time.sleep(0.002)
    logger.close()
    assert sum(writes) == 50 and len(_lines(tmp_path / "log.jsonl")) == 100
    assert len(writes) <= 20, writes  # about one per RL.BATCH_WAIT_S; one per request before


def test_standard_output_is_written_in_whole_lines_of_at_most_pipe_buf(capsys, monkeypatch):
    """Several workers share the container's stdout (a pipe): a write of at most PIPE_BUF bytes
    is never interleaved with another process's, so each write holds whole lines within it."""
    import select

    writes = []
    logger = RL.RequestLogger("-", "m")
    monkeypatch.setattr(RL.sys.stdout, "write", lambda text, _w=RL.sys.stdout.write: (writes.append(text), _w(text)))
    _log(logger, "big", rows=40)  # about 9 KB
    logger.close()
    assert len(writes) > 1
    assert all(w.endswith("\n") and len(w.encode()) <= select.PIPE_BUF for w in writes)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(40))
    long = b"x" * (select.PIPE_BUF + 10) + b"\n"
    assert RL._pipe_chunks(b"a\n" + long + b"b\n") == [b"a\n", long, b"b\n"]  # a longer line alone


@pytest.mark.parametrize("sample", [1.0, 0.99999])
def test_each_line_is_the_records_json_exactly(tmp_path, sample):
    """The lines are put together from parts the request's lines share: the same bytes as
    dumping each line's record whole, with the keys in their documented order."""
    import numpy as np

    path = tmp_path / "log.jsonl"
    logger = RL.RequestLogger(str(path), "m", sample=sample)
    features = [{"x": 1.5, "city": "Zürich", "n": np.int64(3)}, {"x": 2.0, "city": 'a "q"', "n": 4}]
    multiclass = {"class": "b", "probabilities": {"a": 0.25, "b": 0.75}}
    common = {"model_name": "m", "model_version": "7", "task": "multiclass", "protocol": "v2"}
    logger.predictions(
        request_id="r",
        **common,
        features=features,
        predictions=[multiclass, np.float32(0.5)],
        latency_ms=1.23456,
        out_of_domain=[[], ["x", "n"]],
    )
    logger.close()
    lines = path.read_bytes().splitlines(keepends=True)
    timestamp = json.loads(lines[0])["timestamp"]
    extra = {"latency_ms": 1.235} | ({"sample": sample} if sample < 1 else {})
    expected = [
        {
            "timestamp": timestamp,
            "request_id": "r",
            **common,
            "index": i,
            "batch_size": 2,
            "features": f,
            "prediction": p,
        }
        | extra
        | ({"out_of_domain": m} if m else {})
        for i, (f, p, m) in enumerate(zip(features, [multiclass, np.float32(0.5)], [[], ["x", "n"]], strict=True))
    ]
    assert lines == [RL._dumps(record) + b"\n" for record in expected]
