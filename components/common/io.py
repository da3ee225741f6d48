"""File helpers shared by the executors: local paths and gs:// alike. Remote paths (anything
with a scheme) go through tf.io.gfile; local ones through the standard library, so a step that
only reads and writes local files does not pay TensorFlow's import (seconds per step)."""

from __future__ import annotations

import glob as _glob
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager

from contracts.artifacts import FAILURE_FILE

log = logging.getLogger("tabml")


def is_remote(path: str) -> bool:
    return "://" in str(path)


class LocalFiles:
    """The part of tf.io.gfile's API the steps use, on the local filesystem."""

    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    walk = staticmethod(os.walk)
    rmtree = staticmethod(shutil.rmtree)
    remove = staticmethod(os.remove)

    @staticmethod
    def glob(pattern: str) -> list[str]:
        return _glob.glob(pattern)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def copy(src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and os.path.exists(dst):
            raise FileExistsError(dst)
        shutil.copyfile(src, dst)

    @staticmethod
    def GFile(path: str, mode: str = "r"):  # noqa: N802 (tf.io.gfile's name)
        return open(path, mode, encoding=None if "b" in mode else "utf-8")


def gfile(*paths: str):
    """tf.io.gfile when any of the paths is remote (gs://, or TensorFlow's ram:// in tests),
    else LocalFiles: the same calls either way."""
    if any(is_remote(p) for p in paths):
        import tensorflow as tf

        return tf.io.gfile
    return LocalFiles


def resolve_files(source: str) -> list[str]:
    """A file, a glob or a directory -> the sorted list of files it names."""
    fs = gfile(source)
    if any(ch in source for ch in "*?["):
        files = fs.glob(source)
    elif fs.isdir(source):
        files = [os.path.join(source, name) for name in fs.listdir(source) if not name.startswith((".", "_"))]
    elif fs.exists(source):
        files = [source]
    else:
        files = []
    files = sorted(f for f in files if not fs.isdir(f))
    if not files:
        where = os.path.abspath(source) if "://" not in source else source
        raise FileNotFoundError(f"data source '{source}' matched no files (looked at {where})")
    return files


def open_binary(path: str):
    """A seekable binary reader that pandas and pyarrow accept, local or gs://."""
    if not is_remote(path):
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
    with gfile(path).GFile(path, "w") as f:
        f.write(json.dumps(json_safe(payload), indent=2, sort_keys=True, default=str, allow_nan=False))


def read_json(path: str) -> object:
    with gfile(path).GFile(path) as f:
        return json.load(f)


def write_text(path: str, text: str) -> None:
    with gfile(path).GFile(path, "w") as f:
        f.write(text)


def file_sha256(path: str) -> str:
    with gfile(path).GFile(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_text(path: str) -> str:
    with gfile(path).GFile(path) as f:
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
