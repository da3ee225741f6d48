"""ExampleGen: CSV (plain or gzip) or Parquet rows -> gzipped TFRecord tf.Examples in Split-<name>/.

Like TFX's CsvExampleGen, a column's type is inferred from its text over the whole input
(all values integers -> INT, all numbers -> FLOAT, else BYTES) and an empty cell is an
absent feature. The label is written as the model and TFMA see it (binary 0/1, multiclass
the class index, regression the number), so every later step reads it as a plain column.
Rows go to splits by a hash of the configured key columns, so the same input and config
always give the same splits.

Extra data (the `extra_data` input: RequestWindow's labelled.csv, or any CSV/Parquet of the
same shape) is appended to the data: rows that carry the label under label.name as the world
gave it (a derived label as 0/1, a class name, a number), so it is taken as given, not derived.
Its columns are typed with the data's (one inference over both), split by the same hash.

Passes over the input: one to infer the column types, one more for a multiclass label
without configured classes (the class vocabulary comes from the train split), one to write.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from components.common.io import log, open_binary, resolve_files, step, write_json
from components.example_gen.fingerprint import files_fingerprint
from contracts.artifacts import EXAMPLE_GEN_SUMMARY, split_dir
from contracts.config import LabelSpec, PipelineConfig, Split
from contracts.executor import ExecutorResult

CHUNK_ROWS = 50_000
_HASH_BUCKETS = 10_000
INT, FLOAT, BYTES = "INT", "FLOAT", "BYTES"
_GZIP_MAGIC, _PARQUET_MAGIC = b"\x1f\x8b", b"PAR1"


class InputDataError(ValueError):
    """Input data that cannot be turned into examples; says which file and column."""


@dataclass(frozen=True)
class Inputs:
    data_source: str = ""  # overrides config.data.source (the pipeline's data_source parameter)
    # Labelled rows appended to the data (a file, glob or directory): features + the label as given.
    extra_data: str = ""
    # data_fingerprint(data_source, extra_data) when the run was started (part of the step's cache key);
    # empty: not known. A different one here means the data changed since.
    data_fingerprint: str = ""


@dataclass(frozen=True)
class Outputs:
    examples: str


@dataclass
class Result(ExecutorResult):
    source: str  # what was read: the run's data_source, else the config's
    files: list[str]
    data_fingerprint: str  # of the files read (fingerprint.py)
    column_types: dict[str, str]
    split_counts: dict[str, int]
    label: dict  # name, task, classes, per-split class counts or value summary
    rows_read: int = 0  # the data's and the extra data's
    extra_files: list[str] = field(default_factory=list)
    extra_rows_read: int = 0
    extra_split_counts: dict[str, int] = field(default_factory=dict)  # rows written from extra data
    rows_without_label: int = 0  # label value missing (label.missing: drop)
    undefined_ratio_rows: int = 0  # ratio label: denominator zero/negative/missing
    unseen_class_rows: int = 0  # multiclass: a class the train split does not have
    duplicate_rows: int = 0  # exact copies of an earlier row
    duplicates_dropped: int = 0
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ reading


def _sniff(path: str) -> bytes:
    with open_binary(path) as f:
        return f.read(4)


def _read_chunks(path: str, fmt: str, missing_values: list[str]):
    """DataFrames of strings ('' for missing) for CSV, typed frames for Parquet."""
    head = _sniff(path)
    if fmt == "parquet":
        if head != _PARQUET_MAGIC:
            raise InputDataError(f"{path}: not a Parquet file (data.format is parquet)")
        with open_binary(path) as f:
            try:
                table = pq.ParquetFile(f)
            except Exception as err:  # pyarrow raises several types for a bad file
                raise InputDataError(f"{path}: not a readable Parquet file: {err}") from None
            for batch in table.iter_batches(batch_size=CHUNK_ROWS):
                # Nullable integers stay exact Python ints (pandas would make them float64).
                yield batch.to_pandas(integer_object_nulls=True)
        return
    if head == _PARQUET_MAGIC:
        raise InputDataError(f"{path}: a Parquet file, read as CSV; set data.format: parquet (or name it .parquet)")
    with open_binary(path) as raw:
        stream = gzip.GzipFile(fileobj=raw) if head[:2] == _GZIP_MAGIC else raw
        try:
            reader = pd.read_csv(
                io.BufferedReader(stream) if stream is not raw else stream,
                dtype=str,
                keep_default_na=False,
                na_values=missing_values or None,
                chunksize=CHUNK_ROWS,
                encoding="utf-8",
            )
            for chunk in reader:
                yield chunk.fillna("") if missing_values else chunk
        except pd.errors.EmptyDataError:
            raise InputDataError(f"{path}: empty file (no header, no rows)") from None
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError):
            raise InputDataError(
                f"{path}: not a CSV file (binary content?): it is neither UTF-8 text nor gzip-compressed CSV"
            ) from None
        except pd.errors.ParserError as err:
            raise InputDataError(f"{path}: not a readable CSV file: {err}") from None


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


@dataclass
class Observed:
    """What one pass over an input saw: each column's kinds of value (none: a CSV column without
    a value), in the header's order."""

    kinds: dict[str, set[str]]

    @property
    def header(self) -> list[str]:
        return list(self.kinds)


def observe_columns(files: list[str], fmt: str, missing_values: list[str] | None = None) -> Observed:
    """One pass over the input: the kinds of value in each column."""
    seen: dict[str, set[str]] = {}
    header: list[str] | None = None
    for path in files:
        if fmt == "parquet":
            if _sniff(path) != _PARQUET_MAGIC:
                raise InputDataError(f"{path}: not a Parquet file (data.format is parquet)")
            with open_binary(path) as f:
                schema = pq.read_schema(f)
            columns = list(schema.names)
            if header is not None and columns != header:
                raise InputDataError(f"{path}: columns {columns} differ from the first file's {header}")
            header = columns
            for fld in schema:
                seen.setdefault(fld.name, set()).add(_arrow_type(fld.type))
            continue
        for chunk in _read_chunks(path, fmt, missing_values or []):
            columns = list(chunk.columns)
            if header is None:
                header = columns
            elif columns != header:
                raise InputDataError(f"{path}: columns {columns} differ from the first file's {header}")
            for col in columns:
                kinds = seen.setdefault(col, set())
                if (chunk[col] != "").any():
                    kinds.add(_text_type(chunk[col]))
    if header is None:
        raise InputDataError(f"{files[0]}: no rows")
    return Observed({col: seen[col] for col in header})


def column_types_of(kinds: dict[str, set[str]]) -> dict[str, str]:
    """Each column's narrowest type that holds all its values. A column with no value at all
    has no type; BYTES is what TFDV would call it too."""
    return {col: _WIDEN.get(frozenset(k), BYTES) if k else BYTES for col, k in kinds.items()}


def infer_column_types(files: list[str], fmt: str, missing_values: list[str] | None = None) -> dict[str, str]:
    """One pass over the input: each column's narrowest type that holds all its values."""
    return column_types_of(observe_columns(files, fmt, missing_values).kinds)


# ------------------------------------------------------------------------------------ values


def _is_missing(value) -> bool:
    if value is None or value is pd.NA:
        return True
    return (isinstance(value, str) and value == "") or (isinstance(value, float) and np.isnan(value))


def _canonical(value, kind: str) -> str:
    """One text form per value whatever the file format: CSV '5' and Parquet 5 both hash as
    '5'; a number at float32 precision, as tf.Example stores it, so CSV '0.1' and a Parquet
    float32 0.1 are both '0.1'."""
    if _is_missing(value):
        return ""
    if kind == INT:
        return str(_as_int(value))
    if kind == FLOAT:
        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_int(value) -> int:
    try:
        return int(value)  # exact for the digits of a CSV cell, and for Parquet's 5.0
    except ValueError:
        return int(float(value))  # a configured value such as "1.0"


def _numeric(values: pd.Series, what: str, path: str) -> np.ndarray:
    """Float values of a column; NaN where missing. Text is an error naming the column and row."""
    if values.dtype == object:
        missing = values.isna() | (values == "")
        numbers = pd.to_numeric(values.where(~missing, np.nan), errors="coerce")
        bad = values[~missing & numbers.isna()]
        if not bad.empty:
            raise InputDataError(
                f"{path}: {what} holds non-numeric value {bad.iloc[0]!r} (data row {bad.index[0] + 1})"
            )
        return numbers.to_numpy(dtype=float)
    return values.to_numpy(dtype=float, na_value=np.nan)


@dataclass
class LabelValues:
    values: np.ndarray  # the encoded label (0/1, class index, number); NaN/-1 where unusable
    missing: np.ndarray  # no label value (dropped, or an error with label.missing: error)
    undefined: np.ndarray  # ratio labels: the ratio is undefined (label 0 or dropped, per policy)
    text: list[str]  # the label's source value as text (multiclass: the class)


def positive_texts(spec: LabelSpec, kind: str) -> set[str]:
    """label.positive as the label column's text: a value the column cannot hold is an error
    (a positive that can never match would label every row negative)."""
    found = set()
    for value in spec.positive:
        if isinstance(value, bool):  # YAML true: a text column says "true"/"True", a number column 1
            found |= {"1"} if kind != BYTES else {"true", "True", "TRUE"}
            continue
        try:
            if kind == INT and float(value) != int(float(value)):
                raise ValueError
            found.add(_canonical(value, kind))
        except (TypeError, ValueError):
            raise InputDataError(
                f"label.positive: {value!r} cannot be a value of the {kind} column '{spec.name}'"
            ) from None
    return found


def read_label(
    chunk: pd.DataFrame,
    spec: LabelSpec,
    kind: str,
    path: str,
    classes: dict[str, int] | None = None,
    given: bool = False,
) -> LabelValues:
    """The label of each row of a chunk, encoded for the task. `given`: the chunk holds the
    label under label.name as the world gave it (extra data), a derived label as 0/1."""
    n = len(chunk)
    none = np.zeros(n, dtype=bool)
    if spec.ratio and given:
        return _given_ratio_label(chunk[spec.name], spec, kind, path)
    if spec.ratio:
        r = spec.ratio
        num = _numeric(chunk[r.numerator], f"label.ratio.numerator column '{r.numerator}'", path)
        den = _numeric(chunk[r.denominator], f"label.ratio.denominator column '{r.denominator}'", path)
        with np.errstate(invalid="ignore"):
            undefined = np.isnan(den) | (den <= 0) | np.isnan(num)
            label = ((num > r.min_ratio * den) & ~undefined).astype(np.int64)
        return LabelValues(label, none, undefined, [])
    column = chunk[spec.name]
    text = [_canonical(v, kind) for v in column]
    missing = np.array([t == "" for t in text], dtype=bool)
    if spec.task == "regression" or spec.positive_above is not None:
        numbers = _numeric(column, f"label column '{spec.name}'", path)
        if spec.task == "regression":
            return LabelValues(numbers, missing, none, text)
        with np.errstate(invalid="ignore"):
            return LabelValues((numbers > spec.positive_above).astype(np.int64), missing, none, text)
    if spec.task == "binary":
        positive = positive_texts(spec, kind)
        return LabelValues(np.array([t in positive for t in text], dtype=np.int64), missing, none, text)
    ids = classes or {}
    return LabelValues(np.array([ids.get(t, -1) for t in text], dtype=np.int64), missing, none, text)


def _given_ratio_label(column: pd.Series, spec: LabelSpec, kind: str, path: str) -> LabelValues:
    numbers = _numeric(column, f"label column '{spec.name}'", path)
    missing = np.isnan(numbers)
    bad = ~missing & (numbers != 0) & (numbers != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            f"{path}: label column '{spec.name}' holds {column.iloc[i]!r} (data row {column.index[i] + 1}); "
            "a derived label (label.ratio) is given as 0 or 1 in extra data"
        )
    values = np.where(missing, 0, numbers).astype(np.int64)
    text = [_canonical(v, kind) for v in column]
    return LabelValues(values, missing, np.zeros(len(column), dtype=bool), text)


def _row_keys(chunk: pd.DataFrame, columns: list[str], column_types: dict[str, str]) -> list[bytes]:
    return [
        hashlib.md5(
            "\x1f".join(_canonical(v, column_types[c]) for c, v in zip(columns, row, strict=True)).encode()
        ).digest()
        for row in chunk[columns].itertuples(index=False, name=None)
    ]


def assign_splits(keys: list[bytes], split: Split) -> np.ndarray:
    """Index into split.splits for each row, from the md5 of its key columns."""
    buckets = np.array([int.from_bytes(k[:8], "big") % _HASH_BUCKETS for k in keys], dtype=np.int64)
    edges = np.cumsum([s.ratio for s in split.splits]) * _HASH_BUCKETS
    return np.minimum(np.searchsorted(edges, buckets, side="right"), len(split.splits) - 1)


def to_example(row: dict, column_types: dict[str, str]) -> bytes:
    feats = {}
    for col, value in row.items():
        if _is_missing(value):
            continue  # missing -> absent, as in TFX
        kind = column_types[col]
        if kind == INT:
            feats[col] = tf.train.Feature(int64_list=tf.train.Int64List(value=[_as_int(value)]))
        elif kind == FLOAT:
            feats[col] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            text = value if isinstance(value, bytes) else str(value).encode()
            feats[col] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


# ------------------------------------------------------------------------------------ checks


def check_columns(config: PipelineConfig, column_types: dict[str, str], where: str) -> None:
    """Label and key columns against the data's header, before anything is written."""
    columns = list(column_types)
    spec = config.label
    if spec.ratio:
        if spec.name in column_types:
            raise InputDataError(
                f"{where}: label.name '{spec.name}' is already a column; a ratio label is "
                "added under a new name: choose another"
            )
        for role in ("numerator", "denominator"):
            col = getattr(spec.ratio, role)
            if col not in column_types:
                raise InputDataError(f"{where}: label.ratio.{role} column '{col}' is missing; columns are {columns}")
    elif spec.name not in column_types:
        raise InputDataError(
            f"{where}: label column '{spec.name}' (label.name) is not in the data; columns are {columns}"
        )
    elif column_types[spec.name] == BYTES and (spec.task == "regression" or spec.positive_above is not None):
        what = "a regression label" if spec.task == "regression" else "label.positive_above"
        raise InputDataError(f"{where}: label column '{spec.name}' holds text, but {what} needs numbers")
    missing = [c for c in config.split.hash_key if c not in column_types]
    if missing:
        raise InputDataError(f"split.hash_key column(s) {missing} are not in the data; columns are {columns}")


def _label_summary(
    spec: LabelSpec, counts: dict[str, Counter], values: dict[str, list[float]], classes: list[str]
) -> dict:
    summary: dict = {"name": spec.name, "task": spec.task, "unit": spec.unit}
    if spec.task == "regression":
        summary["values"] = {
            s: (
                {"count": len(v), "mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
                if v
                else {"count": 0}
            )
            for s, v in values.items()
        }
        return summary
    names = ["0", "1"] if spec.task == "binary" else classes
    summary["classes"] = names if spec.task == "multiclass" else ["negative", "positive"]
    summary["class_counts"] = {
        s: {summary["classes"][i]: int(c.get(i, 0)) for i in range(len(names))} for s, c in counts.items()
    }
    return summary


def check_label(spec: LabelSpec, label: dict, seen_values: Counter, source: str) -> None:
    """One class in train (or a constant regression label) trains nothing useful: fail here."""
    where = f"label '{spec.name}'" if not spec.ratio else f"label '{spec.name}' (from label.ratio)"
    if spec.task == "regression":
        train = label["values"]["train"]
        if train["count"] and train["min"] == train["max"]:
            raise InputDataError(
                f"{source}: {where} has one value ({train['min']:g}) in all {train['count']} "
                "train rows: nothing to learn"
            )
        return
    counts = label["class_counts"]["train"]
    present = {k: v for k, v in counts.items() if v}
    if len(present) < 2:
        seen = ", ".join(f"{v!r} ({n})" for v, n in seen_values.most_common(5)) or "none"
        hint = ""
        if spec.positive is not None:
            hint = f"; label.positive is {spec.positive}, the column's most common values are {seen}"
        raise InputDataError(
            f"{source}: {where} has only one class in the train split: class counts {counts}"
            f"{hint}. A classifier needs examples of every class"
        )


# ------------------------------------------------------------------------------------ run


@dataclass(frozen=True)
class Part:
    """One input: the configured data, or the extra data (labelled rows, the label as given)."""

    files: list[str]
    fmt: str
    types: dict[str, str]  # the columns as read (the label as given): rows are hashed from them
    extra: bool = False

    def chunks(self, config: PipelineConfig):
        """(path, chunk) over the files; extra data keeps only the columns the data has."""
        for path in self.files:
            for chunk in _read_chunks(path, self.fmt, config.data.missing_values):
                yield path, (chunk[[c for c in chunk.columns if c in self.types]] if self.extra else chunk)

    def label(self, chunk, config: PipelineConfig, path: str, class_ids: dict[str, int]) -> LabelValues:
        spec = config.label
        return read_label(chunk, spec, self.types.get(spec.name, INT), path, class_ids, given=self.extra)

    def keys(self, chunk: pd.DataFrame, config: PipelineConfig) -> tuple[list[bytes], list[bytes]]:
        """Each row's key (its whole text: duplicates) and split key (split.hash_key, else the row)."""
        rows = _row_keys(chunk, list(chunk.columns), self.types)
        return rows, (_row_keys(chunk, config.split.hash_key, self.types) if config.split.hash_key else rows)


def check_extra_columns(config: PipelineConfig, data_columns: list[str], extra: list[str], where: str) -> None:
    """Extra data must hold the label as given and the features: it is appended to the data."""
    spec = config.label
    if spec.name not in extra:
        derived = " (a derived label: extra data gives it as 0/1, not its label.ratio columns)" if spec.ratio else ""
        raise InputDataError(
            f"extra data {where}: no label column '{spec.name}' (label.name){derived}; its columns are {extra}. "
            "Extra data is labelled rows: the features and the label (RequestWindow's labelled.csv)"
        )
    features = [f for f in config.feature_names if f in data_columns and f not in extra]
    if features:
        raise InputDataError(
            f"extra data {where}: feature column(s) {features} of the config are missing; its columns are {extra}"
        )
    keys = [c for c in config.split.hash_key if c not in extra]
    if keys:
        raise InputDataError(
            f"extra data {where}: split.hash_key column(s) {keys} are missing, so its rows cannot be split as "
            f"the data's are; its columns are {extra}"
        )
    ignored = [c for c in extra if c not in data_columns and c != spec.name]
    if ignored:
        log.warning("ExampleGen: extra data %s: column(s) %s are not in the data, left out", where, ignored)


def _parts(config: PipelineConfig, files: list[str], extra_files: list[str]) -> list[Part]:
    """The inputs with their column types: one inference over the data and the extra data
    together, so a column has one type; the extra data's label typed on its own where the
    data has no such column (a derived label)."""
    missing = config.data.missing_values
    data_fmt = config.data.resolved_format(files[0])
    with step("ExampleGen: inferring column types"):
        data = observe_columns(files, data_fmt, missing)
        extra_fmt = config.data.resolved_format(extra_files[0]) if extra_files else ""
        extra = observe_columns(extra_files, extra_fmt, missing) if extra_files else None
    check_columns(config, column_types_of(data.kinds), files[0])
    if extra is None:
        return [Part(files, data_fmt, column_types_of(data.kinds))]
    check_extra_columns(config, data.header, extra.header, extra_files[0])
    label = config.label.name
    kinds = {c: k | extra.kinds.get(c, set()) for c, k in data.kinds.items()}
    types = column_types_of(kinds)
    extra_types = {c: types[c] for c in extra.header if c in types}
    extra_types[label] = types.get(label) or column_types_of({label: extra.kinds[label]})[label]
    return [Part(files, data_fmt, types), Part(extra_files, extra_fmt, extra_types, extra=True)]


def _train_classes(parts: list[Part], config: PipelineConfig) -> list[str]:
    """Multiclass without configured classes: the train split's distinct label values, sorted."""
    spec = config.label
    found: set[str] = set()
    train = [s.name for s in config.split.splits].index("train")
    for part in parts:
        kind = part.types[spec.name]
        for _, chunk in part.chunks(config):
            which = assign_splits(part.keys(chunk, config)[1], config.split)
            found.update(
                t
                for t, w in zip((_canonical(v, kind) for v in chunk[spec.name]), which, strict=True)
                if w == train and t
            )
    # Numbers in numeric order (class 10 after class 9), text alphabetically.
    numeric = all(p.types[spec.name] in (INT, FLOAT) for p in parts)
    return sorted(found, key=float) if numeric else sorted(found)


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    source = inputs.data_source or config.data.source
    files = resolve_files(source)
    extra_files = resolve_files(inputs.extra_data) if inputs.extra_data else []
    fingerprint = files_fingerprint(files, extra_files)
    if inputs.data_fingerprint and inputs.data_fingerprint != fingerprint:
        # The cache would file these examples under the old data's fingerprint.
        what = f"{source} (or extra_data {inputs.extra_data})" if extra_files else source
        raise InputDataError(
            f"{what} changed after the run was started (data_fingerprint {inputs.data_fingerprint[:12]}, "
            f"now {fingerprint[:12]}): start the run again, so that its data_fingerprint is the data's"
        )
    parts = _parts(config, files, extra_files)
    log.info("ExampleGen: %d %s file(s) from %s", len(files), parts[0].fmt, source)
    if extra_files:
        log.info("ExampleGen: %d extra file(s) of labelled rows from %s", len(extra_files), inputs.extra_data)
    column_types = dict(parts[0].types)
    spec = config.label
    if spec.positive is not None:
        for part in parts:  # fails before any row is written
            positive_texts(spec, part.types[spec.name])
    classes: list[str] = []
    if spec.task == "multiclass":
        classes = list(spec.classes) or _train_classes(parts, config)
    class_ids = {c: i for i, c in enumerate(classes)}
    column_types[spec.name] = FLOAT if spec.task == "regression" else INT

    split_names = config.split.names
    described = f"{source} and extra_data {inputs.extra_data}" if extra_files else source
    result = Result(
        source=source,
        files=files,
        data_fingerprint=fingerprint,
        column_types=column_types,
        split_counts={n: 0 for n in split_names},
        label={},
        extra_files=extra_files,
        extra_split_counts={n: 0 for n in split_names} if extra_files else {},
    )
    counts = {n: Counter() for n in split_names}
    values: dict[str, list[float]] = {n: [] for n in split_names}
    seen_values: Counter = Counter()
    unseen: Counter = Counter()
    seen_rows: set[bytes] = set()
    writers = {}
    for name in split_names:
        tf.io.gfile.makedirs(split_dir(outputs.examples, name))
        path = os.path.join(split_dir(outputs.examples, name), "data_tfrecord-00000-of-00001.gz")
        writers[name] = tf.io.TFRecordWriter(path, options="GZIP")
        result.outputs[name] = path
    with step("ExampleGen: writing tf.Examples"):
        try:
            for part in parts:
                for path, chunk in part.chunks(config):
                    result.rows_read += len(chunk)
                    if part.extra:
                        result.extra_rows_read += len(chunk)
                    label = part.label(chunk, config, path, class_ids)
                    if label.text:
                        seen_values.update(t for t in label.text if t)
                    row_keys, keys = part.keys(chunk, config)
                    which = assign_splits(keys, config.split)
                    drop = label.missing.copy()
                    if spec.ratio and spec.ratio.undefined == "drop":
                        drop |= label.undefined
                    result.undefined_ratio_rows += int(label.undefined.sum())
                    result.rows_without_label += int(label.missing.sum())
                    if spec.task == "multiclass":
                        unknown = (label.values < 0) & ~label.missing
                        unseen.update(t for t, u in zip(label.text, unknown, strict=True) if u)
                        drop |= unknown
                    records = chunk.assign(**{spec.name: label.values}).to_dict("records")
                    for i, (row, idx) in enumerate(zip(records, which, strict=True)):
                        if row_keys[i] in seen_rows:
                            result.duplicate_rows += 1
                            if config.data.drop_duplicates:
                                result.duplicates_dropped += 1
                                continue
                        else:
                            seen_rows.add(row_keys[i])
                        if drop[i]:
                            continue
                        name = split_names[idx]
                        writers[name].write(to_example(row, column_types))
                        result.split_counts[name] += 1
                        if part.extra:
                            result.extra_split_counts[name] += 1
                        if spec.task == "regression":
                            values[name].append(float(row[spec.name]))
                        else:
                            counts[name][int(row[spec.name])] += 1
        finally:
            for w in writers.values():
                w.close()
    _finish(config, result, counts, values, seen_values, unseen, classes, described)
    write_json(os.path.join(outputs.examples, EXAMPLE_GEN_SUMMARY), result.to_dict())
    return result


def _finish(config, result: Result, counts, values, seen_values, unseen, classes, source) -> None:
    spec = config.label
    if not result.rows_read:
        raise InputDataError(f"{source}: no data rows (a header only)")
    if result.rows_without_label == result.rows_read:
        raise InputDataError(
            f"{source}: label column '{spec.name}' is empty in every one of the {result.rows_read:,} rows"
        )
    if spec.ratio and result.undefined_ratio_rows == result.rows_read:
        raise InputDataError(
            f"{source}: label '{spec.name}' is undefined in every row: "
            f"'{spec.ratio.denominator}' or '{spec.ratio.numerator}' is empty, zero or negative "
            f"in all {result.rows_read:,} rows"
        )
    if result.rows_without_label:
        message = f"{result.rows_without_label:,} of {result.rows_read:,} rows have no '{spec.name}' value"
        if spec.missing == "error":
            raise InputDataError(f"{source}: {message} (label.missing: error)")
        result.warnings.append(message + ": left out (label.missing: drop)")
    if unseen:
        result.unseen_class_rows = sum(unseen.values())
        result.warnings.append(
            f"{result.unseen_class_rows:,} rows have a '{spec.name}' class the train split does not "
            f"have, left out: {dict(unseen.most_common(10))}"
        )
    if result.duplicate_rows:
        result.warnings.append(
            f"{result.duplicate_rows:,} of {result.rows_read:,} rows are exact duplicates of an earlier row"
            + (
                " and were left out (data.drop_duplicates)"
                if result.duplicates_dropped
                else "; set data.drop_duplicates: true to leave them out"
            )
        )
    if spec.ratio and result.undefined_ratio_rows:
        policy = "labelled 0" if spec.ratio.undefined == "negative" else "left out"
        result.warnings.append(
            f"{result.undefined_ratio_rows:,} rows have an undefined {spec.ratio.numerator}/"
            f"{spec.ratio.denominator} ratio: {policy} (label.ratio.undefined)"
        )
    total = sum(result.split_counts.values())
    if not total:
        raise InputDataError(f"{source}: no data rows left to write (read {result.rows_read})")
    empty = [n for n, c in result.split_counts.items() if c == 0]
    if empty:
        raise InputDataError(
            f"split(s) {empty} got no rows from {source}: too little data for the ratios in split.splits"
        )
    result.label = _label_summary(spec, counts, values, classes)
    gate = config.evaluation.fairness_gate
    if gate and gate.class_name and gate.class_name not in classes:
        raise InputDataError(
            f"evaluation.fairness_gate.class_name '{gate.class_name}' is not a class of label "
            f"'{spec.name}'; the classes are {classes}"
        )
    check_label(spec, result.label, seen_values, source)
    for warning in result.warnings:
        log.warning("ExampleGen: %s", warning)
    log.info(
        "ExampleGen: %s rows per split; label %s",
        result.split_counts,
        result.label.get("class_counts", result.label.get("values")),
    )
