"""Column types and values: what a column's text says its type is, and each value as tf.Example
stores it and as the split hash sees it, for a whole Arrow column at once.

Every value has one text form whatever the file format (`canonical`): CSV '5' and Parquet 5 both
hash as '5'; a number at float32 precision, as tf.Example stores it, so CSV '0.1' and a Parquet
float32 0.1 are both '0.1'. The vectorised paths give exactly what the per-value functions give;
a column they cannot take (text such as '+5' in an INT column, an unusual Arrow type) goes through
the per-value functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

INT, FLOAT, BYTES = "INT", "FLOAT", "BYTES"
_WIDEN = {frozenset([INT]): INT, frozenset([FLOAT]): FLOAT, frozenset([INT, FLOAT]): FLOAT}
_INT_TEXT = re.compile(r"[+-]?\d+")


class InputDataError(ValueError):
    """Input data that cannot be turned into examples; says which file and column."""


# ------------------------------------------------------------------------------------ types


def text_kinds(values: pa.Array) -> set[str]:
    """The kinds of value in a text column ('' is missing): INT when every value is an integer
    (Python's [+-]?\\d+), FLOAT when every value is a number to pandas, else BYTES."""
    present = pc.unique(pc.filter(values, pc.not_equal(values, "")))
    if not len(present):
        return set()
    # RE2's \d is ASCII only; Python's (the definition) also takes other Unicode digits.
    ints = np.array(pc.match_substring_regex(present, r"^[+-]?\d+$").to_numpy(zero_copy_only=False))
    unicode = ~ints & ~pc.string_is_ascii(present).to_numpy(zero_copy_only=False)
    if unicode.any():
        texts = present.to_pylist()
        for i in np.flatnonzero(unicode):
            ints[i] = _INT_TEXT.fullmatch(texts[i]) is not None
    if ints.all():
        return {INT}
    # Every non-ASCII integer is checked too: pandas may not take a digit that Python does.
    check = pc.filter(present, pa.array(~ints | unicode))
    numbers = pd.to_numeric(pd.Series(check.to_numpy(zero_copy_only=False), dtype=object), errors="coerce")
    return {FLOAT} if numbers.notna().all() else {BYTES}


def arrow_kind(arrow_type: pa.DataType) -> str:
    # From a Parquet file's schema: pandas would turn a nullable int column into floats.
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return INT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FLOAT
    return BYTES


def column_types_of(kinds: dict[str, set[str]]) -> dict[str, str]:
    """Each column's narrowest type that holds all its values. A column with no value at all
    has no type; BYTES is what TFDV would call it too."""
    return {col: _WIDEN.get(frozenset(k), BYTES) if k else BYTES for col, k in kinds.items()}


# ------------------------------------------------------------------------------------ one value


def is_missing(value) -> bool:
    if value is None or value is pd.NA:
        return True
    return (isinstance(value, str) and value == "") or (isinstance(value, float) and np.isnan(value))


def canonical(value, kind: str) -> str:
    if is_missing(value):
        return ""
    if kind == INT:
        return str(as_int(value))
    if kind == FLOAT:
        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    return value.decode() if isinstance(value, bytes) else str(value)


def as_int(value) -> int:
    try:
        return int(value)  # exact for the digits of a CSV cell, and for Parquet's 5.0
    except ValueError:
        return int(float(value))  # a configured value such as "1.0"


def to_example(row: dict, column_types: dict[str, str]) -> bytes:
    """One row as a tf.Example (missing values absent, as in TFX); encode.py does whole batches."""
    import tensorflow as tf

    feats = {}
    for col, value in row.items():
        if is_missing(value):
            continue
        kind = column_types[col]
        if kind == INT:
            feats[col] = tf.train.Feature(int64_list=tf.train.Int64List(value=[as_int(value)]))
        elif kind == FLOAT:
            feats[col] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            text = value if isinstance(value, bytes) else str(value).encode()
            feats[col] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


# ------------------------------------------------------------------------------------ a column


@dataclass
class Column:
    values: pa.Array  # int64 / float32 / binary as tf.Example stores them; null where missing
    text: pa.Array  # string: the canonical text, '' where missing


_INT64 = (-(2**63), 2**63 - 1)


def convert(values: pa.Array, kind: str) -> Column:
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    try:
        return _fast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, NotImplementedError):
        return _per_value(values, kind)


def _text(values: pa.Array) -> bool:
    return pa.types.is_string(values.type) or pa.types.is_large_string(values.type)


def _fast(values: pa.Array, kind: str) -> Column:
    t = values.type
    if _text(values):
        present = pc.if_else(pc.equal(values, ""), pa.scalar(None, t), values)
        if kind == BYTES:
            return Column(present.cast(pa.binary()), pc.fill_null(values, "").cast(pa.string()))
        numbers = present.cast(pa.int64() if kind == INT else pa.float64())
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        if kind == BYTES:
            raise NotImplementedError  # str() of the value: per value
        numbers = values.cast(pa.int64()) if kind == INT else values.cast(pa.float64(), safe=False)
    elif pa.types.is_floating(t) and kind == FLOAT:
        numbers = pc.if_else(pc.is_nan(values), pa.scalar(None, t), values)
    elif (pa.types.is_binary(t) or pa.types.is_large_binary(t)) and kind == BYTES:
        present = pc.if_else(pc.equal(values, b""), pa.scalar(None, t), values).cast(pa.binary())
        return Column(present, pc.fill_null(present.cast(pa.string()), ""))
    else:
        raise NotImplementedError
    if kind == INT:
        return Column(numbers, pc.fill_null(numbers.cast(pa.string()), ""))
    f32 = numbers.cast(pa.float32(), safe=False)
    return Column(f32, float32_text(f32))


def float32_text(f32: pa.Array) -> pa.Array:
    """numpy's shortest positional text of each float32 ('' for null): Arrow's shortest text,
    which writes an exponent where numpy writes every digit."""
    text = pc.fill_null(f32.cast(pa.string()), "")
    exponent = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    if not exponent.any():
        return text
    texts = text.to_pylist()
    numbers = f32.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(exponent):
        texts[i] = np.format_float_positional(numbers[i], unique=True, trim="-")
    return pa.array(texts, pa.string())


def _per_value(values: pa.Array, kind: str) -> Column:
    items = values.to_pandas(integer_object_nulls=True).tolist()
    text = [canonical(v, kind) for v in items]
    missing = [is_missing(v) for v in items]
    if kind == INT:
        ints = [None if m else as_int(v) for v, m in zip(items, missing, strict=True)]
        bad = [v for v in ints if v is not None and not _INT64[0] <= v <= _INT64[1]]
        if bad:
            raise InputDataError(f"{bad[0]} does not fit a 64-bit integer (tf.Example's int64)")
        typed = pa.array(ints, pa.int64())
    elif kind == FLOAT:
        typed = pa.array([None if m else float(v) for v, m in zip(items, missing, strict=True)], pa.float64())
        typed = typed.cast(pa.float32(), safe=False)
    else:
        as_bytes = [v if isinstance(v, bytes) else str(v).encode() for v in items]
        typed = pa.array([None if m else b for b, m in zip(as_bytes, missing, strict=True)], pa.binary())
    return Column(typed, pa.array(text, pa.string()))


def numeric(values: pa.Array) -> tuple[np.ndarray, int | None]:
    """Float values of a column (NaN where missing) as pandas reads numbers, and the index of the
    first present value that is not a number (None: all are)."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    t = values.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return values.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), None
    series = pd.Series(values.to_pandas(integer_object_nulls=True), dtype=object)
    missing = series.isna() | (series == "")
    numbers = pd.to_numeric(series.where(~missing, np.nan), errors="coerce")
    bad = np.flatnonzero((~missing & numbers.isna()).to_numpy())
    return numbers.to_numpy(dtype=float), (int(bad[0]) if len(bad) else None)
