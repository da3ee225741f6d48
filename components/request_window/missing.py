"""Missing values counted as the training data counts them, and floats at its precision.

The predictor rejects null, so a client sends 0 or "" for a missing value: a feature the
training data often lacks then shows a point mass at the fill value (a text feature a third
missing in training gives L-infinity ~0.34 between two samples of the same rows). Training data
read from CSV counts "" as missing, so here "" is missing too, and so is a numeric 0 of a
feature whose training data had missing values and no 0 at all (then no 0 in the window is a
real one that training knew). Floats are taken at float32 precision in the statistics, as
tf.Example holds the training data: its quantile edges are float32 values, and a float64 value a
hair off an edge would move its row to the next bin.
"""

from __future__ import annotations

import pandas as pd
from tensorflow_metadata.proto.v0 import statistics_pb2


def zero_is_a_fill(stats: statistics_pb2.DatasetFeatureStatisticsList | None) -> set[str]:
    """Numeric features the training data had missing values of, and never a 0."""
    found = set()
    for f in stats.datasets[0].features if stats is not None and stats.datasets else []:
        if f.HasField("num_stats") and f.num_stats.common_stats.num_missing > 0 and f.num_stats.num_zeros == 0:
            found.add(".".join(f.path.step) or f.name)
    return found


def fills_as_missing(column: pd.Series, zero_is_fill: bool) -> tuple[pd.Series, int]:
    """The column with its fill values ("" always, 0 where zero_is_fill) missing, and how many."""
    if column.dtype == object:
        fills = (column == "").to_numpy(dtype=bool)  # None and NaN compare unequal
        return column.where(~fills, None), int(fills.sum())
    if zero_is_fill:
        fills = (column == 0).fillna(False).astype(bool)
        return column.mask(fills), int(fills.sum())
    return column, 0


def at_float32(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The frame with these float columns rounded to float32 (kept as float64 for TFDV)."""
    out = frame.copy()
    for name in columns:
        out[name] = out[name].astype("float32").astype("float64")
    return out
