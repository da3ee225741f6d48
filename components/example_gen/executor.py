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
import pyarrow as pa
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
            except pd.errors.EmptyDataError:
                raise InputDataError(f"{path}: empty file (no header, no rows)") from None
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


def _arrow_type(arrow_type: pa.DataType) -> str:
    # From the file's schema: pandas would turn a nullable int column into floats.
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return INT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FLOAT
    return BYTES


_WIDEN = {frozenset([INT]): INT, frozenset([FLOAT]): FLOAT, frozenset([INT, FLOAT]): FLOAT}


def infer_column_types(files: list[str], fmt: str) -> dict[str, str]:
    """One pass over the input: each column's narrowest type that holds all its values."""
    seen: dict[str, set[str]] = {}
    header: list[str] | None = None
    for path in files:
        if fmt == "parquet":
            with open_binary(path) as f:
                schema = pq.read_schema(f)
            columns = list(schema.names)
            if header is not None and columns != header:
                raise InputDataError(f"{path}: columns {columns} differ from the first file's {header}")
            header = columns
            for field in schema:
                seen.setdefault(field.name, set()).add(_arrow_type(field.type))
            continue
        for chunk in _read_chunks(path, fmt):
            columns = list(chunk.columns)
            if header is None:
                header = columns
            elif columns != header:
                raise InputDataError(
                    f"{path}: columns {columns} differ from the first file's {header}")
            for col in columns:
                seen.setdefault(col, set()).add(_text_type(chunk[col]))
    if header is None:
        raise InputDataError(f"{files[0]}: no rows")
    return {col: _WIDEN.get(frozenset(kinds), BYTES) for col, kinds in seen.items()}


def _numeric(values: pd.Series, role: str, column: str, path: str) -> np.ndarray:
    """Float values of a column the label is made from; NaN where missing. Text is an error."""
    if values.dtype == object:
        missing = values.isna() | (values == "")
        numbers = pd.to_numeric(values.where(~missing, np.nan), errors="coerce")
        bad = values[~missing & numbers.isna()]
        if not bad.empty:
            raise InputDataError(
                f"{path}: label.{role} column '{column}' holds non-numeric value {bad.iloc[0]!r} "
                f"(data row {bad.index[0] + 1})")
        return numbers.to_numpy(dtype=float)
    return values.to_numpy(dtype=float, na_value=np.nan)


def derive_label(chunk: pd.DataFrame, spec: LabelSpec, path: str) -> tuple[np.ndarray, np.ndarray]:
    """(label 0/1, mask of rows whose ratio is undefined: denominator zero, negative or
    missing, or numerator missing)."""
    for role, col in (("numerator", spec.numerator), ("denominator", spec.denominator)):
        if col not in chunk.columns:
            raise InputDataError(
                f"{path}: label.{role} column '{col}' is missing; columns are {list(chunk.columns)}")
    num = _numeric(chunk[spec.numerator], "numerator", spec.numerator, path)
    den = _numeric(chunk[spec.denominator], "denominator", spec.denominator, path)
    with np.errstate(invalid="ignore"):
        undefined = np.isnan(den) | (den <= 0) | np.isnan(num)
        label = (num > spec.min_ratio * den) & ~undefined
    return label.astype(np.int64), undefined


def _canonical(value, kind: str) -> str:
    """One text form per value whatever the file format: CSV '5' and Parquet 5.0 (an int
    column with nulls, as pandas reads it) both hash as '5'."""
    if _is_missing(value):
        return ""
    if kind == INT:
        return str(int(value))
    if kind == FLOAT:
        return repr(float(value))
    return value.decode() if isinstance(value, bytes) else str(value)


def _is_missing(value) -> bool:
    if value is None or value is pd.NA:
        return True
    return (isinstance(value, str) and value == "") or (isinstance(value, float) and np.isnan(value))


def assign_splits(chunk: pd.DataFrame, split: Split, column_types: dict[str, str]) -> np.ndarray:
    """Index into split.splits for each row, from a hash of the key columns."""
    key_cols = split.hash_key or [c for c in chunk.columns if c in column_types]
    missing = [c for c in key_cols if c not in chunk.columns]
    if missing:
        raise InputDataError(f"split.hash_key column(s) {missing} are not in the data; columns are "
                             f"{list(chunk.columns)}")
    keys = ["\x1f".join(_canonical(v, column_types[c]) for c, v in zip(key_cols, row))
            for row in chunk[key_cols].itertuples(index=False, name=None)]
    buckets = np.array([int.from_bytes(hashlib.md5(k.encode()).digest()[:8], "big") % _HASH_BUCKETS
                        for k in keys])
    edges = np.cumsum([s.ratio for s in split.splits]) * _HASH_BUCKETS
    return np.minimum(np.searchsorted(edges, buckets, side="right"), len(split.splits) - 1)


def to_example(row: dict, column_types: dict[str, str]) -> bytes:
    feats = {}
    for col, value in row.items():
        if _is_missing(value):
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
        tf.io.gfile.makedirs(split_dir(output_dir, name))
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
                    which = assign_splits(chunk.drop(columns=[config.label.name]), config.split,
                                          column_types)
                    for row, idx in zip(chunk.to_dict("records"), which):
                        name = split_names[idx]
                        writers[name].write(to_example(row, column_types))
                        result.split_counts[name] += 1
                    result.label_positive += int(label.sum())
        finally:
            for w in writers.values():
                w.close()
    if not sum(result.split_counts.values()):
        raise InputDataError(f"{source}: no data rows" + (
            f" left after dropping {result.dropped_rows} with an undefined label ratio"
            if result.dropped_rows else ""))
    empty = [n for n, c in result.split_counts.items() if c == 0]
    if empty:
        raise InputDataError(f"split(s) {empty} got no rows from {source}: too little data for "
                             f"the ratios in split.splits")
    write_json(os.path.join(output_dir, "example_gen_summary.json"), result.to_dict())
    log.info("ExampleGen: %s; label positive rate %.3f; %d rows with an undefined %s/%s ratio (%s)",
             result.split_counts, result.label_positive / max(1, sum(result.split_counts.values())),
             result.zero_denominator_rows, config.label.numerator, config.label.denominator,
             config.label.zero_denominator)
    return result
