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
optional.

`path` is "-" (standard output: on GKE, Cloud Logging then stores each line as a structured
jsonPayload, and a log sink to BigQuery or GCS hands them to the monitoring job), a file
(ending in .jsonl / .json / .log / .ndjson) or a directory; in a directory each process
writes its own `requests-<model_name>-<hostname>-<pid>.jsonl`, so several server workers never
interleave partial lines. Each request's lines go out in one write under a lock and are
flushed at once; read them with `pandas.read_json(path, lines=True)`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import threading

_FILE_SUFFIXES = (".jsonl", ".json", ".log", ".ndjson")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_file_for(path: str, model_name: str) -> str:
    if path == "-":
        return path
    if path.endswith(_FILE_SUFFIXES):
        return path
    return os.path.join(path, f"requests-{model_name}-{socket.gethostname()}-{os.getpid()}.jsonl")


class RequestLogger:
    def __init__(self, path: str | None, model_name: str):
        self.path = log_file_for(path, model_name) if path else None
        self._lock = threading.Lock()
        self._file = None
        if self.path == "-":
            self._file = sys.stdout
        elif self.path:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def _write(self, records: list[dict]) -> None:
        if not self._file:
            return
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            self._file.write(text)
            self._file.flush()

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
    ) -> None:
        ts = _now()
        n = len(predictions)
        timing = {} if latency_ms is None else {"latency_ms": round(latency_ms, 3)}
        self._write(
            [
                {
                    "timestamp": ts,
                    "request_id": request_id,
                    "model_name": model_name,
                    "model_version": model_version,
                    "task": task,
                    "protocol": protocol,
                    "index": i,
                    "batch_size": n,
                    "features": f,
                    "prediction": p,
                }
                | timing
                for i, (f, p) in enumerate(zip(features, predictions, strict=True))
            ]
        )

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
        self._write([line])

    def close(self) -> None:
        with self._lock:
            if self._file and self._file is not sys.stdout:
                self._file.close()
            self._file = None
