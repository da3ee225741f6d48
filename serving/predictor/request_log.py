"""Structured request/response logs: JSON lines a monitoring job can read.

One line per predicted instance:
  {"timestamp": "2026-11-22T09:30:00.123Z", "request_id": "...", "model_name": "...",
   "model_version": "1795336860", "task": "binary", "protocol": "v1", "index": 0, "batch_size": 2,
   "features": {...raw features as served...}, "prediction": 0.137, "latency_ms": 12.8}
where "prediction" is the instance's item of the v1 answer, whatever the protocol:
  binary      the positive-class probability, 0.137
  multiclass  {"class": "cat", "probabilities": {"cat": 0.91, "dog": 0.06, "fox": 0.03}}
  regression  the predicted value, 23.4
and one line per rejected request (status 400), with "error" instead of features/prediction.
"latency_ms" is the request's server-side time, the same on each of its lines: from the
predictor's preprocess (the body already read by KServe) to its response built (model.py),
by time.perf_counter. Logs written before it was added have no such key: readers treat it as
optional. "out_of_domain" (only on an instance with such values): the features whose values
are outside the training schema's domains (predictor/domains.py), e.g. ["fare"].

Sampling (`sample`, default $REQUEST_LOG_SAMPLE or 1): the share of predicted requests logged,
decided per request from its id (a request is logged whole or not at all, and the same id
gets the same answer in every process); below 1 each line carries "sample": the rate, so a
reader can weight counts by 1/sample. Rejected requests are always logged.

Off the request path: the server's thread only queues the request's fields; a background
thread builds the lines, writes them and flushes. Woken by a request, it first waits
BATCH_WAIT_S (20 ms) so that the requests queued meanwhile go out in the same write: one thread
switch per batch, not per request (each one a GIL hand-off the event loop pays for). A line
reaches the file within about that time.
The queue holds at most `max_pending` lines: beyond that a request's lines are dropped and
counted (`dropped`, and `on_drop(n)`, the predictor's Prometheus counter) rather than letting
a slow sink grow memory or stall serving. `close()` writes everything queued, then stops the
thread; a line submitted after it is written at once by its caller.

`path` is "-" (standard output: on GKE, Cloud Logging then stores each line as a structured
jsonPayload, and a log sink to BigQuery or GCS hands them to the monitoring job; written in
whole lines of at most PIPE_BUF bytes a write, so that the lines of several worker processes
sharing the container's stdout never interleave), a file
(ending in .jsonl / .json / .log / .ndjson) or a directory; in a directory each process
writes its own `requests-<model_name>-<hostname>-<pid>.jsonl`, so several server workers never
interleave partial lines. Read them with `pandas.read_json(path, lines=True)`.

Standard library only (orjson when installed): the pipeline's tests load this file on its own
to write logs as the predictor does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import select
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable


def _plain(value):
    """What JSON cannot take as it is: numpy scalars and arrays as Python numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


try:
    import orjson

    def _dumps(record: dict) -> bytes:
        # numpy scalars (a caller's numpy predictions or features) written as the numbers they are
        return orjson.dumps(record, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)
except ImportError:  # pragma: no cover - the serving env has orjson

    def _dumps(record: dict) -> bytes:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_plain).encode("utf-8")


_FILE_SUFFIXES = (".jsonl", ".json", ".log", ".ndjson")
SAMPLE_ENV = "REQUEST_LOG_SAMPLE"
DEFAULT_MAX_PENDING = 100_000  # lines queued for the writer; beyond: dropped and counted
_STOP = object()
BATCH_WAIT_S = 0.02  # the writer's pause after a wake-up, to write what queues meanwhile at once


def _pipe_chunks(data: bytes) -> list[bytes]:
    """Whole lines, at most PIPE_BUF bytes a chunk where the lines allow: each chunk is one write
    to standard output, which a pipe (a container's stdout) never interleaves with another
    process's write (several --workers share one stdout)."""
    if len(data) <= select.PIPE_BUF:
        return [data]
    chunks, current, size = [], [], 0
    for line in data.splitlines(keepends=True):
        if current and size + len(line) > select.PIPE_BUF:
            chunks.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        chunks.append(b"".join(current))
    return chunks


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_file_for(path: str, model_name: str) -> str:
    if path == "-":
        return path
    if path.endswith(_FILE_SUFFIXES):
        return path
    return os.path.join(path, f"requests-{model_name}-{socket.gethostname()}-{os.getpid()}.jsonl")


def sample_rate(value: float | str | None) -> float:
    """The sampling rate in [0, 1]: `value`, else $REQUEST_LOG_SAMPLE, else 1."""
    if value is None or value == "":
        value = os.environ.get(SAMPLE_ENV, "") or 1.0
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"request log sample rate {value!r} (--request_log_sample / ${SAMPLE_ENV}): give 0..1")
    return rate


def sampled(request_id: str, rate: float) -> bool:
    """Whether a request is logged: a hash of its id below the rate (deterministic per id)."""
    if rate >= 1.0:
        return True
    return zlib.crc32(request_id.encode("utf-8")) < rate * 2**32


class RequestLogger:
    def __init__(
        self,
        path: str | None,
        model_name: str,
        *,
        sample: float | str | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_drop: Callable[[int], None] | None = None,
    ):
        self.path = log_file_for(path, model_name) if path else None
        self.sample = sample_rate(sample)
        self.max_pending = max_pending
        self.on_drop = on_drop
        self.dropped = 0  # lines
        self._lock = threading.Lock()  # pending/dropped counts; the file's writes
        self._pending = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._file = None
        self._thread: threading.Thread | None = None
        if self.path == "-":
            self._file = sys.stdout
        elif self.path:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "ab")
        if self._file is not None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._file is not None

    # -- the caller's side: queue, never block ---------------------------------------------------
    def _submit(self, n: int, build: Callable[[], bytes]) -> None:
        if not self._file:
            return
        if self._thread is None:  # closed: write at once
            self._write_or_drop(n, build)
            return
        with self._lock:
            if self._pending + n > self.max_pending:
                self.dropped += n
                drop = True
            else:
                self._pending += n
                drop = False
        if drop:
            if self.on_drop:
                self.on_drop(n)
            return
        self._queue.put((n, build))

    def predictions(
        self,
        *,
        request_id: str,
        model_name: str,
        model_version: str,
        task: str,
        protocol: str,
        features: list[dict],
        predictions: list,
        latency_ms: float | None = None,
        out_of_domain: list[list[str]] | None = None,  # per instance, or None / [] for none
    ) -> None:
        if not self._file or not sampled(request_id, self.sample):
            return
        ts = _now()
        n = len(predictions)
        extra = {} if latency_ms is None else {"latency_ms": round(latency_ms, 3)}
        if self.sample < 1.0:
            extra["sample"] = self.sample

        def build() -> bytes:
            # Each line is _dumps({"timestamp": ts, ..., "protocol": protocol, "index": i,
            # "batch_size": n, "features": f, "prediction": p} | extra | {"out_of_domain": m}),
            # the same bytes put together from the parts the request's lines share, dumped once
            common = {
                "timestamp": ts,
                "request_id": request_id,
                "model_name": model_name,
                "model_version": model_version,
                "task": task,
                "protocol": protocol,
            }
            head = _dumps(common)[:-1] + b',"index":'
            size = b',"batch_size":' + str(n).encode() + b',"features":'
            tail = b"," + _dumps(extra)[1:-1] if extra else b""
            parts = []
            for i, (f, p, m) in enumerate(zip(features, predictions, out_of_domain or [None] * n, strict=True)):
                parts += (head, str(i).encode(), size, _dumps(f), b',"prediction":', _dumps(p), tail)
                if m:
                    parts += (b',"out_of_domain":', _dumps(m))
                parts.append(b"}\n")
            return b"".join(parts)

        self._submit(n, build)

    def rejected(
        self,
        *,
        request_id: str,
        model_name: str,
        model_version: str,
        protocol: str,
        error: str,
        latency_ms: float | None = None,
    ) -> None:
        line = {
            "timestamp": _now(),
            "request_id": request_id,
            "model_name": model_name,
            "model_version": model_version,
            "protocol": protocol,
            "status": 400,
            "error": error,
        }
        if latency_ms is not None:
            line["latency_ms"] = round(latency_ms, 3)
        self._submit(1, lambda: _dumps(line) + b"\n")

    # -- the writer thread -----------------------------------------------------------------------
    def _write(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        with self._lock:
            if self.path == "-":  # text, to whatever sys.stdout is now
                for chunk in _pipe_chunks(data):
                    sys.stdout.write(chunk.decode("utf-8"))
                    sys.stdout.flush()
            elif self._file:
                self._file.write(data)
                self._file.flush()

    def _run(self) -> None:
        backlog = False
        while True:
            items = [self._queue.get()]
            if items[0] is not _STOP and not backlog:
                # Let the next requests queue up: one wake-up and one write for all of them,
                # not one per request (thread switches and GIL hand-offs the event loop pays)
                time.sleep(BATCH_WAIT_S)
            while len(items) < 512:  # what has queued meanwhile goes out in the same write
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            backlog = len(items) == 512  # more waiting: no pause before the next write
            stop = any(item is _STOP for item in items)
            work = [item for item in items if item is not _STOP]
            try:
                self._write([build() for _, build in work])
            except Exception:  # one request's lines at a time, so only what cannot be written is lost
                for n, build in work:
                    self._write_or_drop(n, build)
            with self._lock:
                self._pending -= sum(n for n, _ in work)
            if stop:
                return

    def _write_or_drop(self, n: int, build: Callable[[], bytes]) -> None:
        try:
            self._write([build()])
        except Exception as e:  # a broken sink or record must not kill the writer: say so, count, go on
            print(f"request log {self.path}: write failed, {n} lines dropped: {e!r}", file=sys.stderr)
            with self._lock:
                self.dropped += n
            if self.on_drop:
                self.on_drop(n)

    def close(self, timeout: float = 30.0) -> None:
        """Writes every queued line and stops the writer. The file stays open (flushed after
        every write): KServe unloads the model on SIGTERM while uvicorn still answers the
        requests in flight, and their lines are then written at once by their callers."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
