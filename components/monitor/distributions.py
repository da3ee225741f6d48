"""What the report draws of a feature, read from TFDV statistics (the training statistics of the
served version, the window's, the previous window's): numeric features as shares of rows in
common equal-width bins, categorical ones as the shares of their most frequent values.

Numeric bins come from each side's QUANTILES histogram read as a CDF (exact at each bucket's
high value, linear between; a tie is a step), as drift.py measures the distance, not from the
STANDARD histogram, whose ten buckets over [min, max] put nearly every row in one bucket when
a feature has an outlier. The bins span the
sides' deciles widened by their spread, so one extreme value does not squash the chart; the
shares outside the span are given beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

BINS = 24
TOP_VALUES = 10


class NoQuantiles(ValueError):
    """Statistics without a QUANTILES histogram (TFDV writes one by default)."""


@dataclass(frozen=True)
class Numeric:
    edges: list[float]
    shares: list[list[float]]  # per side, per bin: share of the side's rows with a value
    below: list[float]  # per side: share under edges[0]
    above: list[float]  # per side: share over edges[-1]


@dataclass(frozen=True)
class Categorical:
    values: list[str]  # the most frequent on any side, most frequent first
    shares: list[list[float]]  # per side, per value
    other: list[float]  # per side: the share of every other value


def features(
    stats: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    if stats is None or not stats.datasets:
        return {}
    return {".".join(f.path.step) or f.name: f for f in stats.datasets[0].features}


def is_numeric(f: statistics_pb2.FeatureNameStatistics) -> bool:
    return f.HasField("num_stats")


def _common(f: statistics_pb2.FeatureNameStatistics):
    return f.num_stats.common_stats if is_numeric(f) else f.string_stats.common_stats


def missing_share(f: statistics_pb2.FeatureNameStatistics) -> float | None:
    c = _common(f)
    total = c.num_non_missing + c.num_missing
    return c.num_missing / total if total else None


def rows_with_value(f: statistics_pb2.FeatureNameStatistics) -> int:
    return int(_common(f).num_non_missing)


def quantile_buckets(f: statistics_pb2.FeatureNameStatistics) -> np.ndarray:
    """(low, high, count) per bucket of the feature's QUANTILES histogram."""
    for h in f.num_stats.histograms:
        if h.type == statistics_pb2.Histogram.QUANTILES and h.buckets:
            return np.array([(b.low_value, b.high_value, b.sample_count) for b in h.buckets], dtype=float)
    raise NoQuantiles(f"{'.'.join(f.path.step) or f.name}: no quantiles histogram in the statistics")


def cdf(buckets: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Share of the rows <= x: exact at each bucket's high value (TFDV's buckets are right-closed),
    linear in between; a value repeated over point buckets takes its last bucket's share."""
    share = np.cumsum(buckets[:, 2]) / buckets[:, 2].sum()
    knots = np.concatenate([[buckets[0, 0]], buckets[:, 1]])
    shares = np.concatenate([[0.0], share])
    values, last = np.unique(knots[::-1], return_index=True)
    return np.interp(x, values, shares[::-1][last], left=0.0, right=1.0)


def numeric(sides: list[statistics_pb2.FeatureNameStatistics], bins: int = BINS) -> Numeric | None:
    """Shares of each side's rows in common bins; None when no side has values."""
    buckets = [quantile_buckets(f) for f in sides if rows_with_value(f)]
    if not buckets:
        return None
    spans = []
    for b in buckets:  # [min, max] narrowed to the deciles widened by their spread
        q_low, q_high = b[0, 1], b[-1, 0]
        spread = max(q_high - q_low, 0.0)
        spans.append((max(b[0, 0], q_low - spread), min(b[-1, 1], q_high + spread)))
    low, high = min(s[0] for s in spans), max(s[1] for s in spans)
    if high <= low:  # one value everywhere
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    points = np.concatenate([[low - (high - low) * 1e-9], edges[1:]])  # the first bin holds `low` itself
    shares, below, above = [], [], []
    for f in sides:
        if not rows_with_value(f):
            shares.append([float("nan")] * bins)
            below.append(float("nan"))
            above.append(float("nan"))
            continue
        at = cdf(quantile_buckets(f), points)
        shares.append([float(s) for s in np.maximum(np.diff(at), 0.0)])
        below.append(float(at[0]))
        above.append(float(max(1.0 - at[-1], 0.0)))
    return Numeric([float(e) for e in edges], shares, below, above)


def _value_shares(f: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    s = f.string_stats
    counts = {b.label: b.sample_count for b in s.rank_histogram.buckets} or {v.value: v.frequency for v in s.top_values}
    total = s.common_stats.tot_num_values or s.common_stats.num_non_missing
    return {value: count / total for value, count in counts.items()} if total else {}


def categorical(sides: list[statistics_pb2.FeatureNameStatistics], top: int = TOP_VALUES) -> Categorical:
    """The shares of the values most frequent on any side (the largest shares first)."""
    per_side = [_value_shares(f) for f in sides]
    largest: dict[str, float] = {}
    for found in per_side:
        for value, share in found.items():
            largest[value] = max(largest.get(value, 0.0), share)
    values = sorted(largest, key=lambda v: (-largest[v], v))[:top]
    shares = [[found.get(v, 0.0) for v in values] for found in per_side]
    other = [max(1.0 - sum(s), 0.0) if found else float("nan") for s, found in zip(shares, per_side, strict=True)]
    return Categorical(values, shares, other)
