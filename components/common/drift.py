"""Drift and skew between two TFDV statistics (DatasetFeatureStatisticsList, as StatisticsGen
writes them): per feature a distance, a threshold that knows the sample size, and a verdict.

Categorical features: TFDV's own comparator, L-infinity distance of the value shares
(`infinity_norm`, read from `validate_statistics(...).drift_skew_info`).

Numeric features: Jensen-Shannon divergence (log2, as TFDV) over the reference's quantile
bins. TFDV's numeric `jensen_shannon_divergence` is unusable on heavy-tailed data: it aligns
the two sides' own histograms by spreading every bucket's mass uniformly over its range. With
the default STANDARD histogram (10 equal-width buckets over [min, max]) one outlier puts
~99.9% of the rows in the first bucket, whose width differs per sample, so the distance says
where the maximum fell, not how the rows are spread. Measured between same-distribution
samples of the chicago_taxi example (9,000 reference rows, median of 20): the fare column
gives 0.42 at 100 rows, 0.34 at 1,000 and 0.34 at 6,000 (trip miles 0.39, 0.29, 0.71). Its
QUANTILES source is better but still spreads the top decile over [q90, max] and keys point
buckets by exact value: 0.15, 0.09, 0.08. Here each side's quantile histogram is read as a
CDF, exact at its bucket edges (linear inside a bucket), and both sides' mass is taken in one
side's quantile bins, open at both ends, so an outlier moves one row's mass and nothing else:
for the same column the largest of 20 distances is 0.043 at 100 rows, 0.004 at 1,000 and
0.0002 at 6,000, and a 0.5-sd mean shift of a normal feature gives ~0.049 at 10,000 rows.
Heavy ties (236 pickup points, 69 community areas) are why it is taken both ways, the smaller
kept, and why a bin edge inside the other side's bucket that ends at a tie is dropped
(`quantile_jsd`): interpolating across such a bucket put up to 10% of the rows in the wrong
bin, at any sample size (dropoff_community_area: 4x its noise floor at 3,000 rows).

The noise floor (`noise_floor`) comes from measurement (bench/drift.py prints it): a distance
under it is sampling noise, whatever the configured threshold says.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from contracts.config import Monitoring

NUMERIC, CATEGORICAL = "numeric", "categorical"
JSD, LINF = "jensen_shannon_divergence", "infinity_norm"
DRIFTED, OK, TOO_SMALL, MISSING = "drifted", "ok", "too_small", "missing"
# floor(n) = FLOOR_K[kind] / sqrt(n), n the effective size of the two sides
# (n_cur * n_ref / (n_cur + n_ref)). K: the largest distance * sqrt(n) over same-distribution
# windows (20 per size, 100 to 7,500 rows; the chicago_taxi example's and synthetic features;
# bench/drift.py prints it: numeric 0.46 on its features, 0.85 on the tied ones of
# tests/test_drift.py's random halves; categorical 1.33), times ~1.5. Sampling noise alone
# would fall as 1/n for JSD, but a feature with few distinct values (236 latitudes) keeps
# ~0.012 at 7,500 rows: 10 quantile buckets cannot say where inside a bucket a small tie
# lies. 1/sqrt(n) covers both.
FLOOR_K = {NUMERIC: 1.5, CATEGORICAL: 2.1}


class DriftError(ValueError):
    """Statistics that cannot be compared; says which and why."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    measure: str  # jensen_shannon_divergence | infinity_norm
    distance: float | None  # None: not measured (too small, missing)
    threshold: float  # configured
    effective_threshold: float  # max(threshold, noise floor at these sizes)
    rows: tuple[int, int]  # (current, reference) rows with a value
    verdict: str  # drifted | ok | too_small | missing

    def describe(self) -> str:
        if self.verdict == MISSING:
            return f"{self.feature}: missing from the {'current' if not self.rows[0] else 'reference'} statistics"
        if self.verdict == TOO_SMALL:
            return f"{self.feature}: too small to judge ({self.rows[0]:,} vs {self.rows[1]:,} rows)"
        return (
            f"{self.feature}: {self.measure} {self.distance:.4f} vs threshold {self.effective_threshold:.4f} "
            f"(configured {self.threshold:g}; {self.rows[0]:,} vs {self.rows[1]:,} rows)"
        )


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]
    rows: tuple[int, int]  # (current, reference) examples
    min_rows: int
    decision: str = field(init=False)  # drifted | ok | too_small

    def __post_init__(self):
        if any(f.verdict == DRIFTED for f in self.features):
            decision = DRIFTED
        elif min(self.rows) < self.min_rows:  # a feature with too few values says so in its own verdict
            decision = TOO_SMALL
        else:
            decision = OK
        object.__setattr__(self, "decision", decision)

    def with_verdict(self, verdict: str) -> list[FeatureDrift]:
        return [f for f in self.features if f.verdict == verdict]

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "rows": {"current": self.rows[0], "reference": self.rows[1]},
            "min_rows": self.min_rows,
            "features": [asdict(f) | {"rows": {"current": f.rows[0], "reference": f.rows[1]}} for f in self.features],
        }


def noise_floor(kind: str, current_rows: int, reference_rows: int) -> float:
    n = current_rows * reference_rows / (current_rows + reference_rows)
    return FLOOR_K[kind] / math.sqrt(n)


def _features(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    if len(stats.datasets) != 1:
        raise DriftError(f"statistics with {len(stats.datasets)} datasets; compare one dataset (one split) at a time")
    found = {}
    for f in stats.datasets[0].features:
        name = ".".join(f.path.step) if f.path.step else f.name
        if f.HasField("num_stats") or f.HasField("string_stats"):
            found[name] = f
    return found


def _rows(f: statistics_pb2.FeatureNameStatistics) -> int:
    common = f.num_stats.common_stats if f.HasField("num_stats") else f.string_stats.common_stats
    return int(common.num_non_missing)


def _quantile_buckets(f: statistics_pb2.FeatureNameStatistics) -> np.ndarray:
    for h in f.num_stats.histograms:
        if h.type == statistics_pb2.Histogram.QUANTILES and h.buckets:
            return np.array([(b.low_value, b.high_value, b.sample_count) for b in h.buckets], dtype=float)
    raise DriftError(f"{f.path.step or f.name}: no quantiles histogram in the statistics (TFDV writes one by default)")


def _knots(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray, set[float]]:
    """Where a quantile histogram's CDF is exact: at each bucket's high value, the share of rows
    <= it (TFDV's buckets are right-closed, a tie split over point buckets [v, v]); and the
    values of its point buckets (ties)."""
    low, high, count = buckets[:, 0], buckets[:, 1], buckets[:, 2]
    share = np.cumsum(count) / count.sum()
    values, last = np.unique(high[::-1], return_index=True)  # a value repeated: its last bucket
    return values, share[::-1][last], set(high[low == high].tolist())


def _binned_jsd(bins_of: np.ndarray, other: np.ndarray) -> float:
    """JSD in `bins_of`'s bins, (-inf, k1], ..., (k_last, inf), its knots but its maximum: its own
    mass exactly, the other side's interpolated linearly inside the other's buckets. A knot inside
    a bucket of the other side that ends at a tie (a point bucket, or a knot of both sides: two
    samples' quantiles meet only on a repeated value) is dropped, merging its two bins: linear
    interpolation would spread the tie over that bucket."""
    values, share, ties = _knots(bins_of)
    o_values, o_share, o_ties = _knots(other)
    both = set(values.tolist()) & set(o_values.tolist())
    ends = o_values[np.minimum(np.searchsorted(o_values, values[:-1]), len(o_values) - 1)]
    keep = [
        k in both or k > o_values[-1] or not (e in both or e in ties or e in o_ties)
        for k, e in zip(values[:-1].tolist(), ends.tolist(), strict=True)
    ]
    knots = values[:-1][np.array(keep, dtype=bool)]
    if not len(knots):
        return 0.0
    own = np.interp(knots, values, share)  # exact: the knots are its own
    theirs = np.interp(knots, np.concatenate([[other[0, 0]], o_values]), np.concatenate([[0.0], o_share]))
    mass = [np.maximum(np.diff(np.concatenate([[0.0], cdf, [1.0]])), 0.0) for cdf in (own, theirs)]
    return _jsd(*mass)


def _jsd(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * np.log2(p / m), 0.0).sum() + np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(min(max(kl / 2, 0.0), 1.0))


def quantile_jsd(
    current: statistics_pb2.FeatureNameStatistics, reference: statistics_pb2.FeatureNameStatistics
) -> float:
    """JSD of the two sides' mass in one side's quantile bins, the smaller of the two ways.

    Each way is exact on its own side and interpolates the other inside its buckets, which
    errs by up to a bucket's mass (10%) where a bucket holds a tie the bins cut through; a
    shift of the distribution shows both ways, an interpolation artefact seldom does."""
    ref, cur = _quantile_buckets(reference), _quantile_buckets(current)
    return min(_binned_jsd(ref, cur), _binned_jsd(cur, ref))


def _linf(current, reference, names: list[str]) -> dict[str, float]:
    """TFDV's infinity_norm comparator for the categorical features in `names`."""
    if not names:
        return {}
    import tensorflow_data_validation as tfdv  # only here: the rest of drift reads protos

    schema = schema_pb2.Schema()
    for name in names:
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.drift_comparator.infinity_norm.threshold = 1.0  # the distance is wanted, not TFDV's verdict
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=reference)
    return {
        ".".join(info.path.step): m.value
        for info in anomalies.drift_skew_info
        for m in info.drift_measurements
        if m.type == anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY
    }


def compare(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    reference: statistics_pb2.DatasetFeatureStatisticsList,
    thresholds: Monitoring,
    features: list[str] | None = None,
) -> DriftReport:
    """Per-feature drift of `current` from `reference` (default: every feature of the reference)."""
    cur, ref = _features(current), _features(reference)
    rows = (int(current.datasets[0].num_examples), int(reference.datasets[0].num_examples))
    names = list(features) if features is not None else sorted(ref)
    judged, found = [], []
    for name in names:
        c, r = cur.get(name), ref.get(name)
        kind = CATEGORICAL if (r or c) is not None and (r or c).HasField("string_stats") else NUMERIC
        if c is not None and r is not None and c.HasField("string_stats") != r.HasField("string_stats"):
            raise DriftError(f"{name}: numeric on one side and text on the other; the schema check reports why")
        n = (_rows(c) if c is not None else 0, _rows(r) if r is not None else 0)
        threshold = thresholds.thresholds.get(
            name, thresholds.categorical_threshold if kind == CATEGORICAL else thresholds.numeric_threshold
        )
        entry = dict(feature=name, kind=kind, measure=LINF if kind == CATEGORICAL else JSD, threshold=threshold, rows=n)
        if c is None or r is None or not min(n):
            found.append(FeatureDrift(**entry, distance=None, effective_threshold=threshold, verdict=MISSING))
        elif min(n) < thresholds.min_rows:
            found.append(FeatureDrift(**entry, distance=None, effective_threshold=threshold, verdict=TOO_SMALL))
        else:
            judged.append(entry)
    linf = _linf(current, reference, [e["feature"] for e in judged if e["kind"] == CATEGORICAL])
    for e in judged:
        name = e["feature"]
        distance = linf.get(name, 0.0) if e["kind"] == CATEGORICAL else quantile_jsd(cur[name], ref[name])
        effective = max(e["threshold"], noise_floor(e["kind"], *e["rows"]))
        verdict = DRIFTED if distance > effective else OK
        found.append(FeatureDrift(**e, distance=distance, effective_threshold=effective, verdict=verdict))
    order = {name: i for i, name in enumerate(names)}
    found.sort(key=lambda f: order[f.feature])
    return DriftReport(features=found, rows=rows, min_rows=thresholds.min_rows)
