"""ExampleGen: CSV or Parquet rows -> gzipped TFRecord tf.Examples in Split-<name>/.

Like TFX's CsvExampleGen, a column's type is inferred from its text over the whole input
(all values integers -> INT, all numbers -> FLOAT, else BYTES) and an empty cell is an
absent feature. The label is derived here from the config's label definition, so every
later step (TFDV, TFMA) sees it as a plain column. Rows go to splits by a hash of the
configured key columns, so the same input and config always give the same splits.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import tensorflow as tf

from components.common.io import log, open_binary, resolve_files, split_dir, step, write_json
from pipelines.config import LabelSpec, PipelineConfig, Split

CHUNK_ROWS = 50_000
_HASH_BUCKETS = 10_000
INT, FLOAT, BYTES = "INT", "FLOAT", "BYTES"


class InputDataError(ValueError):
    """Input data that cannot be turned into examples; says which file and column."""


@dataclass
class ExampleGenResult:
    files: list[str]
    column_types: dict[str, str]
    split_counts: dict[str, int]
    label_positive: int = 0
    zero_denominator_rows: int = 0
    dropped_rows: int = 0
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _read_chunks(path: str, fmt: str):
    """Yields DataFrames of strings ('' for missing) for CSV, typed frames for Parquet."""
    if fmt == "csv":
        with open_binary(path) as f:
            try:
                reader = pd.read_csv(f, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
                for chunk in reader:
                    yield chunk
            except (pd.errors.ParserError, UnicodeDecodeError) as err:
                raise InputDataError(f"{path}: not a readable CSV file: {err}") from None
    else:
        with open_binary(path) as f:
            try:
                table = pq.ParquetFile(f)
            except Exception as err:  # pyarrow raises several types for a bad file
                raise InputDataError(f"{path}: not a readable Parquet file: {err}") from None
            for batch in table.iter_batches(batch_size=CHUNK_ROWS):
                yield batch.to_pandas()


def _text_type(values: pd.Series) -> str:
    present = values[values != ""]
    if present.empty:
        return INT
    if present.str.fullmatch(r"[+-]?\d+").all():
        return INT
    if pd.to_numeric(present, errors="coerce").notna().all():
        return FLOAT
    return BYTES


def _frame_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        return INT
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        return INT if present.empty else FLOAT
    return BYTES


_WIDEN = {frozenset([INT]): INT, frozenset([FLOAT]): FLOAT, frozenset([INT, FLOAT]): FLOAT}


def infer_column_types(files: list[str], fmt: str) -> dict[str, str]:
    """One pass over the input: each column's narrowest type that holds all its values."""
    seen: dict[str, set[str]] = {}
    header: list[str] | None = None
    for path in files:
        for chunk in _read_chunks(path, fmt):
            columns = list(chunk.columns)
            if header is None:
                header = columns
            elif columns != header:
                raise InputDataError(
                    f"{path}: columns {columns} differ from the first file's {header}")
            for col in columns:
                kind = _text_type(chunk[col]) if fmt == "csv" else _frame_type(chunk[col])
                seen.setdefault(col, set()).add(kind)
    if header is None:
        raise InputDataError(f"{files[0]}: no rows")
    return {col: _WIDEN.get(frozenset(kinds), BYTES) for col, kinds in seen.items()}


def _numeric(values: pd.Series, column: str, path: str) -> np.ndarray:
    """Float values of a label column; NaN where missing. Text is an error."""
    if values.dtype == object:
        numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        bad = values[(values != "") & numbers.isna()]
        if not bad.empty:
            raise InputDataError(
                f"{path}: label column '{column}' holds non-numeric value {bad.iloc[0]!r} "
                f"(data row {bad.index[0] + 1})")
        return numbers.to_numpy(dtype=float)
    return values.to_numpy(dtype=float)


def derive_label(chunk: pd.DataFrame, spec: LabelSpec, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(label 0/1, mask of rows whose denominator is zero or missing)."""
    for role, col in (("numerator", spec.numerator), ("denominator", spec.denominator)):
        if col not in chunk.columns:
            raise InputDataError(
                f"{path}: label.{role} column '{col}' is missing; columns are {list(chunk.columns)}")
    num = _numeric(chunk[spec.numerator], spec.numerator, path)
    den = _numeric(chunk[spec.denominator], spec.denominator, path)
    undefined = np.isnan(den) | (den == 0)
    with np.errstate(invalid="ignore"):
        label = (np.nan_to_num(num) > spec.min_ratio * den) & ~undefined
    return label.astype(np.int64), undefined


def assign_splits(chunk: pd.DataFrame, split: Split) -> np.ndarray:
    """Index into split.splits for each row, from a hash of the key columns."""
    key_cols = split.hash_key or list(chunk.columns)
    keys = chunk[key_cols].astype(str).agg("\x1f".join, axis=1)
    buckets = np.array([int.from_bytes(hashlib.md5(k.encode()).digest()[:8], "big") % _HASH_BUCKETS
                        for k in keys])
    edges = np.cumsum([s.ratio for s in split.splits]) * _HASH_BUCKETS
    return np.minimum(np.searchsorted(edges, buckets, side="right"), len(split.splits) - 1)


def _example(row: dict, column_types: dict[str, str]) -> bytes:
    feats = {}
    for col, value in row.items():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            continue  # missing -> absent, as in TFX
        kind = column_types[col]
        if kind == INT:
            feats[col] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        elif kind == FLOAT:
            feats[col] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            text = value if isinstance(value, (bytes,)) else str(value).encode()
            feats[col] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def run(config: PipelineConfig, output_dir: str, source: str | None = None) -> ExampleGenResult:
    source = source or config.data.source
    files = resolve_files(source)
    fmt = config.data.resolved_format(files[0])
    log.info("ExampleGen: %d %s file(s) from %s", len(files), fmt, source)
    with step("ExampleGen: inferring column types"):
        column_types = infer_column_types(files, fmt)
    if config.label.name in column_types:
        raise InputDataError(f"{files[0]}: label.name '{config.label.name}' is already a column; "
                             "choose another label name")
    column_types[config.label.name] = INT

    split_names = [s.name for s in config.split.splits]
    result = ExampleGenResult(files=files, column_types=column_types,
                              split_counts={n: 0 for n in split_names})
    writers = {}
    for name in split_names:
        os.makedirs(split_dir(output_dir, name), exist_ok=True) if "://" not in output_dir else None
        path = os.path.join(split_dir(output_dir, name), "data_tfrecord-00000-of-00001.gz")
        writers[name] = tf.io.TFRecordWriter(path, options="GZIP")
        result.outputs[name] = path
    with step("ExampleGen: writing tf.Examples"):
        try:
            for path in files:
                for chunk in _read_chunks(path, fmt):
                    label, undefined = derive_label(chunk, config.label, path)
                    result.zero_denominator_rows += int(undefined.sum())
                    if config.label.zero_denominator == "drop":
                        keep = ~undefined
                        result.dropped_rows += int(undefined.sum())
                        chunk, label = chunk[keep], label[keep]
                    chunk = chunk.assign(**{config.label.name: label})
                    which = assign_splits(chunk.drop(columns=[config.label.name]), config.split)
                    for row, idx in zip(chunk.to_dict("records"), which):
                        name = split_names[idx]
                        writers[name].write(_example(row, column_types))
                        result.split_counts[name] += 1
                    result.label_positive += int(label.sum())
        finally:
            for w in writers.values():
                w.close()
    empty = [n for n, c in result.split_counts.items() if c == 0]
    if empty:
        raise InputDataError(f"split(s) {empty} got no rows from {source}: too little data for "
                             f"the ratios in split.splits")
    write_json(os.path.join(output_dir, "example_gen_summary.json"), result.to_dict())
    log.info("ExampleGen: %s; label positive rate %.3f; %d rows with zero/missing %s (%s)",
             result.split_counts, result.label_positive / max(1, sum(result.split_counts.values())),
             result.zero_denominator_rows, config.label.denominator, config.label.zero_denominator)
    return result
