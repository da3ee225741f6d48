"""File helpers shared by the executors: local paths and gs:// alike (tf.io.gfile)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf

from contracts.artifacts import FAILURE_FILE

log = logging.getLogger("tabml")


def resolve_files(source: str) -> list[str]:
    """A file, a glob or a directory -> the sorted list of files it names."""
    gfile = tf.io.gfile
    if any(ch in source for ch in "*?["):
        files = gfile.glob(source)
    elif gfile.isdir(source):
        files = [os.path.join(source, name) for name in gfile.listdir(source) if not name.startswith((".", "_"))]
    elif gfile.exists(source):
        files = [source]
    else:
        files = []
    files = sorted(f for f in files if not gfile.isdir(f))
    if not files:
        where = os.path.abspath(source) if "://" not in source else source
        raise FileNotFoundError(f"data source '{source}' matched no files (looked at {where})")
    return files


def open_binary(path: str):
    """A seekable binary reader that pandas and pyarrow accept, local or gs://."""
    if "://" not in path:
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def json_safe(value):
    """NaN/inf are not JSON: they become null (TFMA yields NaN for, e.g., precision on a
    slice with no positive predictions)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str, payload: object) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(json_safe(payload), indent=2, sort_keys=True, default=str, allow_nan=False))


def read_json(path: str) -> object:
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def write_text(path: str, text: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def file_sha256(path: str) -> str:
    with tf.io.gfile.GFile(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_text(path: str) -> str:
    with tf.io.gfile.GFile(path) as f:
        return f.read()


@contextmanager
def step(name: str) -> Iterator[None]:
    """Logs the start and the wall time of a long step."""
    log.info("%s ...", name)
    start = time.perf_counter()
    yield
    log.info("%s done in %.1fs", name, time.perf_counter() - start)


@contextmanager
def reported_failure(step_name: str, artifact_path: str) -> Iterator[None]:
    """A failure ends with one line naming the step and the cause (after a long traceback) and
    leaves it in failure.json in the task's directory (the output artifact's parent)."""
    try:
        yield
    except Exception as err:
        message = f"{type(err).__name__}: {err}"
        log.error("%s failed: %s", step_name, message)
        try:
            write_json(
                os.path.join(os.path.dirname(artifact_path.rstrip("/")), FAILURE_FILE),
                {"step": step_name, "error": message},
            )
        except Exception:  # noqa: BLE001 (the step's own error is the one to raise)
            log.warning("could not record the failure beside %s", artifact_path)
        raise


def setup_logging() -> None:
    # Beam and absl log at INFO through the root logger; keep only their warnings.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    log.setLevel(logging.INFO)
