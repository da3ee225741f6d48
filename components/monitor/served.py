"""The window's statistics with missing values counted as the training data counts them.

A client sends 0 or "" for a missing value (the predictor rejects null), so a feature the
training data often lacks shows a point mass at the fill value in the window: a text feature a
third missing in training gives L-infinity ~0.34 between two samples of the same rows. Training
data read from CSV counts "" as missing, so here "" is missing too, and so is a numeric 0 of a
feature whose training data had missing values and no 0 at all (then no 0 in the window is a
real one that training knew). Floats are taken at float32 precision, as tf.Example holds the
training data (else a coordinate with a few hundred distinct values drifts on float64 noise
alone). The window's rows are read back from window.csv (RequestWindow's column types) and
their statistics generated again.
"""

from __future__ import annotations

import os

import pandas as pd
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from contracts.monitoring import MODEL_VERSION, REQUEST_ID, REQUEST_INDEX, REQUEST_TIME, WINDOW_CSV

_NOT_DATA = (REQUEST_ID, REQUEST_INDEX, REQUEST_TIME, MODEL_VERSION)


def _zero_is_a_fill(stats: statistics_pb2.DatasetFeatureStatisticsList) -> set[str]:
    """Numeric features the training data had missing values of, and never a 0."""
    found = set()
    for f in stats.datasets[0].features:
        if f.HasField("num_stats") and f.num_stats.common_stats.num_missing > 0 and f.num_stats.num_zeros == 0:
            found.add(".".join(f.path.step) or f.name)
    return found


def _typed(values: pd.Series, kind: str | None) -> pd.Series:
    if kind == "BYTES":
        return values.where(values != "", None)
    numbers = pd.to_numeric(values.where(values != "", None), errors="coerce")
    if kind is None and numbers.isna().sum() > (values == "").sum():  # text (a predicted class)
        return values.where(values != "", None)
    if kind == "INT":
        return numbers.astype("Int64")
    # tf.Example keeps floats as float32: the training statistics' quantile edges are float32
    # values, and a float64 value a hair off an edge would move its row to the next bin.
    return numbers.astype("float32").astype("float64")


def window_statistics(
    window: str,
    column_types: dict[str, str],
    features: list[str],
    training: statistics_pb2.DatasetFeatureStatisticsList,
) -> tuple[statistics_pb2.DatasetFeatureStatisticsList, dict[str, int]]:
    """(statistics, feature -> fill values counted as missing)."""
    with tf.io.gfile.GFile(os.path.join(window, WINDOW_CSV)) as f:
        raw = pd.read_csv(f, dtype=str, keep_default_na=False)
    frame = pd.DataFrame({c: _typed(raw[c], column_types.get(c)) for c in raw.columns if c not in _NOT_DATA})
    filled: dict[str, int] = {}
    zero_fills = _zero_is_a_fill(training)
    for name in features:
        if column_types.get(name) == "BYTES":
            filled[name] = int((raw[name] == "").sum())
        elif name in zero_fills:
            zeros = (frame[name] == 0).fillna(False).astype(bool)
            filled[name] = int(zeros.sum())
            frame[name] = frame[name].mask(zeros)
    return tfdv.generate_statistics_from_dataframe(frame), {k: v for k, v in filled.items() if v}
