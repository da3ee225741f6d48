"""A fingerprint of the input data: what makes ExampleGen's cache key change with the data.

KFP and Vertex key a cached step by its inputs, and ExampleGen's data_source is a path: new
data at the same path would be a stale cache hit. Whoever starts a run (submit) passes
data_fingerprint(data_source, extra_data) as the data_fingerprint parameter, and ExampleGen checks it
against the files it reads. It lists and stats the files (names, sizes, modification times)
and reads no data, so it costs one listing even for gs:// inputs.
"""

from __future__ import annotations

import hashlib
import json

import tensorflow as tf

from components.common.io import resolve_files


def _entries(files: list[str]) -> list:
    entries = []
    for path in sorted(files):
        stat = tf.io.gfile.stat(path)
        entries.append([path, stat.length, stat.mtime_nsec])
    return entries


def files_fingerprint(files: list[str], extra_files: list[str] | None = None) -> str:
    # Without extra data: the same value as before extra data existed (cache keys stay).
    entries = _entries(files) if not extra_files else {"data": _entries(files), "extra_data": _entries(extra_files)}
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def data_fingerprint(source: str, extra_data: str = "") -> str:
    """sha256 over (path, size, mtime) of each file a data source (and the extra data, the
    pipeline's extra_data) names: a file, a glob or a directory, local or gs:// (as ExampleGen
    resolves it)."""
    return files_fingerprint(resolve_files(source), resolve_files(extra_data) if extra_data else None)
