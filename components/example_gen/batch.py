"""One batch of rows -> its split keys, labels and tf.Examples, with what the write pass counts.

Rows go to splits by the md5 of their key columns' canonical text (values.canonical) joined by
\\x1f, exactly as before Beam, so the same input and config always give the same splits.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.example_gen.encode import encode_examples
from components.example_gen.labels import At, read_label
from components.example_gen.plan import Plan
from components.example_gen.read import Problem
from components.example_gen.stats import FirstSeen, Stats, positions
from components.example_gen.values import FLOAT, INT, Column, InputDataError, convert
from contracts.config import PipelineConfig, Split

_HASH_BUCKETS = 10_000
_CONVERSION = 9  # a value that cannot be its column's type: checked after the label


def md5s(texts: list[pa.Array]) -> np.ndarray:
    """(rows, 16) uint8: the md5 of each row's texts joined by \\x1f."""
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
    joined = joined.cast(pa.binary())
    if not len(joined):
        return np.zeros((0, 16), np.uint8)
    bounds = np.frombuffer(joined.buffers()[1], np.int32)[joined.offset : joined.offset + len(joined) + 1].tolist()
    data = joined.buffers()[2].to_pybytes()
    digests = b"".join(hashlib.md5(data[s:e]).digest() for s, e in zip(bounds, bounds[1:], strict=False))
    return np.frombuffer(digests, np.uint8).reshape(-1, 16)


def assign_splits(digests: np.ndarray, split: Split) -> np.ndarray:
    """Index into split.splits for each row, from the md5 of its key columns."""
    buckets = np.ascontiguousarray(digests[:, :8]).view(">u8").ravel() % _HASH_BUCKETS
    edges = np.cumsum([s.ratio for s in split.splits]) * _HASH_BUCKETS
    return np.minimum(np.searchsorted(edges, buckets, side="right"), len(split.splits) - 1)


@dataclass
class Rows:
    """A batch's columns as read (extra data: those it shares with the data), converted."""

    names: list[str]
    raw: dict[str, pa.Array]
    columns: dict[str, Column]
    row_keys: np.ndarray  # md5 of the whole row: duplicates
    split: np.ndarray  # index into split.splits
    positions: np.ndarray


def prepare(batch: pa.RecordBatch, at: At, plan: Plan, config: PipelineConfig) -> tuple[Rows | None, list[Problem]]:
    types = plan.types[at.part]
    names = [c for c in batch.schema.names if c in types] if at.part else list(batch.schema.names)
    raw = {name: batch.column(batch.schema.get_field_index(name)) for name in names}
    columns = {}
    for name in names:
        try:
            columns[name] = convert(raw[name], types[name])
        except (InputDataError, ValueError, TypeError, OverflowError) as err:
            message = f"column '{name}' holds a value that cannot be {types[name]}: {err}"
            return None, [Problem.at(at.part, at.file, at.row, _CONVERSION, f"{at.path}: {message}")]
    row_keys = md5s([columns[n].text for n in names])
    hash_key = config.split.hash_key
    split_keys = md5s([columns[n].text for n in hash_key]) if hash_key else row_keys
    where = positions(at.part, at.file, at.row, batch.num_rows)
    return Rows(names, raw, columns, row_keys, assign_splits(split_keys, config.split), where), []


def train_classes(rows: Rows, config: PipelineConfig) -> set[str]:
    """The label's values in the train split (multiclass without configured classes)."""
    train = config.split.names.index("train")
    text = rows.columns[config.label.name].text
    keep = pa.array((rows.split == train) & pc.not_equal(text, "").to_numpy(zero_copy_only=False))
    return set(pc.unique(pc.filter(text, keep)).to_pylist())


def _first_seen(text: pa.Array, mask: np.ndarray, where: np.ndarray) -> FirstSeen:
    seen = FirstSeen()
    if mask.any():
        picked = pc.filter(text, pa.array(mask))
        encoded = pc.dictionary_encode(picked)
        index = encoded.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(index, minlength=len(encoded.dictionary))
        first = np.full(len(encoded.dictionary), np.iinfo(np.int64).max)
        np.minimum.at(first, index, where[mask])
        seen.add(encoded.dictionary.to_pylist(), counts, first)
    return seen


def to_examples(
    rows: Rows, at: At, plan: Plan, config: PipelineConfig, classes: list[str], dropped: np.ndarray | None
) -> tuple[dict[int, tuple[np.ndarray, pa.Array]], Stats]:
    """Per split index, the batch's rows written (their indices in the batch) and their serialized
    examples; and the batch's counts. `dropped`: sorted positions of duplicate rows to leave out
    (data.drop_duplicates)."""
    spec, stats = config.label, Stats()
    extra = bool(at.part)
    n = len(rows.positions)
    stats.rows_read, stats.extra_rows_read = n, n if extra else 0
    kind = plan.types[at.part].get(spec.name, INT)
    text = rows.columns[spec.name].text if spec.name in rows.columns else None
    label, problems = read_label(rows.raw, text, spec, at, classes, kind, given=extra)
    stats.add_problems(problems)
    if problems:
        return {}, stats
    if label.text is not None:
        stats.seen = _first_seen(label.text, ~label.missing, rows.positions)
    drop = label.missing.copy()
    if spec.ratio and spec.ratio.undefined == "drop":
        drop |= label.undefined
    stats.undefined_ratio_rows = int(label.undefined.sum())
    stats.rows_without_label = int(label.missing.sum())
    if spec.task == "multiclass":
        unknown = (label.values < 0) & ~label.missing
        stats.unseen = _first_seen(label.text, unknown, rows.positions)
        drop |= unknown
    if dropped is not None and len(dropped):
        copies = np.isin(rows.positions, dropped)
        stats.duplicates_dropped = int(copies.sum())
        drop |= copies
    regression = spec.task == "regression"
    label_values = pa.array(label.values, pa.float64()).cast(pa.float32()) if regression else pa.array(label.values)
    written = [(name, plan.column_types[name], rows.columns[name].values) for name in rows.names if name != spec.name]
    position = rows.names.index(spec.name) if spec.name in rows.names else len(written)
    written.insert(position, (spec.name, FLOAT if regression else INT, label_values))
    examples = encode_examples(written)
    out = {}
    for index, split in enumerate(config.split.names):
        keep = ~drop & (rows.split == index)
        count = int(keep.sum())
        if not count:
            continue
        out[index] = np.flatnonzero(keep), pc.filter(examples, pa.array(keep))
        stats.split_counts[split] = count
        if extra:
            stats.extra_split_counts[split] = count
        if regression:
            stats.add_values(split, label.values[keep])
        else:
            ids, counts = np.unique(label.values[keep], return_counts=True)
            stats.class_counts[split] = Counter(dict(zip(ids.tolist(), counts.tolist(), strict=True)))
    return out, stats
