"""How each split is cut into shards, named as TFX names them (data_tfrecord-00000-of-00010.gz).

A gzip file cannot be split: every later Beam step (StatisticsGen, Transform, the Evaluator) reads
one file in one worker. Several shards let a runner with several workers read a split in parallel.

The input's rows in file order (the data, then the extra data; files sorted; rows in file order)
are cut into N equal ranges, N = ceil(rows / ROWS_PER_SHARD); shard i of every split holds that
split's rows of range i, in file order. So the shards read in name order hold the examples in the
order one file would, whatever the runner, its workers and its bundles; small data is one shard.

Each batch's piece of a shard is compressed where it is made, as a gzip member of its own, and a
shard file is its pieces' members one after the other (gzip allows several; TensorFlow's and
Beam's readers read them): what is grouped by shard and held until written is compressed data,
about a tenth of the examples.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

# 100,000 rows of an 18-column table: about 50 MB of examples, 5 MB gzipped.
ROWS_PER_SHARD = 100_000
PREFIX = "data_tfrecord"


@dataclass(frozen=True)
class Layout:
    starts: dict[tuple[int, int], int]  # (part, file index) -> its first row's place among all rows
    rows: int
    shards: int

    def places(self, part: int, file: int, rows: np.ndarray) -> np.ndarray:
        """The places among all rows of a file's rows (their indices in the file)."""
        return self.starts[(part, file)] + rows.astype(np.int64)

    def shard_of(self, places: np.ndarray) -> np.ndarray:
        return np.minimum(places * self.shards // max(self.rows, 1), self.shards - 1)


def layout(file_rows: dict[tuple[int, int], int], files: list[tuple[int, int]], rows_per_shard: int) -> Layout:
    """From each file's row count (a file missing from file_rows has none)."""
    starts, total = {}, 0
    for key in sorted(files):
        starts[key] = total
        total += file_rows.get(key, 0)
    return Layout(starts, total, max(1, math.ceil(total / rows_per_shard)))


def runs(shards: np.ndarray) -> list[tuple[int, int, int]]:
    """(shard, start, end) for each run of rows in one shard (shards never decrease in a batch)."""
    cuts = [0, *(np.flatnonzero(np.diff(shards)) + 1).tolist(), len(shards)]
    return [(int(shards[s]), s, e) for s, e in zip(cuts, cuts[1:], strict=False) if e > s]


def gzip_member(data) -> bytes:
    """data (bytes or a buffer) as one gzip member, as Beam's gzip writer compresses (level 6;
    no name, no time: the same data gives the same bytes)."""
    out = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return out.compress(data) + out.flush()


def shard_path(prefix: str, shard: int, shards: int) -> str:
    return f"{prefix}-{shard:05d}-of-{shards:05d}.gz"


def clear(split_dirs: list[str]) -> None:
    """Remove the shards an earlier run left (perhaps another number of them) before writing."""
    patterns = [f"{d.rstrip('/')}/{PREFIX}-*.gz" for d in split_dirs]
    old = [m.path for result in FileSystems.match(patterns) for m in result.metadata_list]
    if old:
        FileSystems.delete(old)


def every_shard(splits: int):
    """A key per (split, shard) with no rows: every shard gets its file, an empty one too."""

    def keys(layout: Layout, plan):
        if not plan.error:  # the run fails: nothing is written
            for split in range(splits):
                for shard in range(layout.shards):
                    yield (split, shard), None

    return keys


class WriteShard(beam.DoFn):
    """One shard file from its pieces: (first row's place, gzip member of TFRecords), in place order."""

    def __init__(self, prefixes: list[str]):
        self._prefixes = list(prefixes)

    def process(self, element, layout: Layout):
        (split, shard), pieces = element
        path = shard_path(self._prefixes[split], shard, layout.shards)
        # Written in place, not renamed from a temporary file: a retried bundle writes the same bytes.
        members = [data for _, data in sorted((p for p in pieces if p is not None), key=lambda p: p[0])]
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for data in members or [gzip_member(b"")]:  # an empty shard: a gzip file of no records
                f.write(data)
        yield path
