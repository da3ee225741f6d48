"""The comparisons of a canary with the stable model, each a Check: ok, failed or not judged,
with its numbers and one line saying why.

  volume       served requests per side, at least min_requests each (else nothing is judged)
  error_rate   rejected / (served + rejected) requests: a rise above max_error_rate_increase
               that is also significant (one-sided two-proportion z-test, p < 0.01)
  predictions  the prediction column's distribution through drift.compare (numeric: JSD over
               the stable's quantile bins; classes: L-infinity), threshold raised to the noise
               floor at the two sides' sizes, so a small canary is not rolled back for noise
  quality      the task's main metric on the labelled rows of each side (AUC, accuracy, MAE),
               the canary worse by more than max_quality_drop of the stable's value, and
               significantly so (z over the two standard errors, p < 0.01: 250 labelled rows
               move an AUC by a few hundredths on their own)
  latency      each request's server-side latency (the log's latency_ms, once per request
               however many instances): the canary's p95 above the stable's by more than
               max_latency_increase, and the canary's latencies significantly higher
               (one-sided Mann-Whitney U, p < 0.01); not judged for logs without latencies
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from scipy.stats import mannwhitneyu
from sklearn.metrics import roc_auc_score

from components.common import drift
from contracts.config import CanaryAnalysis, LabelSpec, Monitoring
from contracts.monitoring import PREDICTION, REQUEST_ID, REQUEST_LATENCY_MS

OK, FAILED, NOT_JUDGED = "ok", "failed", "not_judged"
Z_ONE_SIDED_1PCT = 2.326  # the normal quantile at 0.99
SIGNIFICANCE = 0.01  # the p-value below which a rise counts as real
# The live-quality metric per task (contracts/metrics.py's reported names) and its direction.
QUALITY_METRIC = {
    "binary": ("auc", True),
    "multiclass": ("accuracy", True),
    "regression": ("mean_absolute_error", False),
}


@dataclass(frozen=True)
class Side:
    """One model version's share of a window."""

    version: str
    rows: pd.DataFrame  # its rows of window.csv
    rejected: int | None  # its rejected requests; None where the window does not count them per version
    rejected_from: str  # where that count came from, or why there is none

    @property
    def requests(self) -> int:
        return int(self.rows[REQUEST_ID].nunique())


@dataclass
class Check:
    name: str
    verdict: str  # ok | failed | not_judged
    detail: str
    numbers: dict = field(default_factory=dict)


def volume(canary: Side, stable: Side, cfg: CanaryAnalysis) -> Check:
    numbers = {"canary_requests": canary.requests, "stable_requests": stable.requests, "min": cfg.min_requests}
    short = [f"{who} {s.version} served {s.requests:,}" for who, s in (("canary", canary), ("stable", stable))]
    if min(canary.requests, stable.requests) < cfg.min_requests:
        few = [line for line, s in zip(short, (canary, stable), strict=True) if s.requests < cfg.min_requests]
        detail = f"{'; '.join(few)} requests, at least {cfg.min_requests:,} needed"
        return Check("volume", NOT_JUDGED, detail, numbers)
    return Check("volume", OK, f"{'; '.join(short)} requests", numbers)


def error_rate(canary: Side, stable: Side, cfg: CanaryAnalysis) -> Check:
    if canary.rejected is None or stable.rejected is None:
        missing = canary if canary.rejected is None else stable
        return Check("error_rate", NOT_JUDGED, f"not compared: {missing.rejected_from}")
    n1, n0 = canary.requests + canary.rejected, stable.requests + stable.rejected
    p1, p0 = canary.rejected / n1, stable.rejected / n0
    pooled = (canary.rejected + stable.rejected) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (p1 - p0) / se if se else (math.inf if p1 > p0 else 0.0)
    numbers = {"canary": p1, "stable": p0, "increase": p1 - p0, "z": z, "max_increase": cfg.max_error_rate_increase}
    numbers |= {"canary_rejected": canary.rejected, "stable_rejected": stable.rejected}
    text = (
        f"rejected {canary.rejected:,}/{n1:,} = {p1:.2%} (canary) vs {stable.rejected:,}/{n0:,} = {p0:.2%} "
        f"(stable), {p1 - p0:+.2%} (allowed +{cfg.max_error_rate_increase:.2%}), z = {z:.2f}"
    )
    failed = p1 - p0 > cfg.max_error_rate_increase and z > Z_ONE_SIDED_1PCT
    return Check("error_rate", FAILED if failed else OK, text, numbers)


def _prediction_stats(side: Side, kind: str):
    values = side.rows[PREDICTION].dropna()
    values = values.astype(str) if kind == "class" else values.astype("float64")
    return tfdv.generate_statistics_from_dataframe(pd.DataFrame({PREDICTION: values.reset_index(drop=True)}))


def predictions(canary: Side, stable: Side, cfg: CanaryAnalysis, kind: str) -> Check:
    """kind: the window's prediction kind, "number" (binary, regression) or "class" (multiclass)."""
    thresholds = Monitoring(
        numeric_threshold=cfg.max_prediction_jsd,
        categorical_threshold=cfg.max_prediction_linf,
        min_rows=cfg.min_requests,
    )
    report = drift.compare(_prediction_stats(canary, kind), _prediction_stats(stable, kind), thresholds, [PREDICTION])
    [found] = report.features
    numbers = {
        "measure": found.measure,
        "distance": found.distance,
        "threshold": found.effective_threshold,
        "configured": found.threshold,
        "rows": {"canary": found.rows[0], "stable": found.rows[1]},
    }
    if kind != "class":
        numbers["mean"] = {"canary": _mean(canary.rows[PREDICTION]), "stable": _mean(stable.rows[PREDICTION])}
    verdict = {drift.DRIFTED: FAILED, drift.OK: OK}.get(found.verdict, NOT_JUDGED)
    return Check("predictions", verdict, found.describe().replace(f"{PREDICTION}: ", "", 1), numbers)


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


# ------------------------------------------------------------------------------------ quality


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _canonical(value) -> str:
    """1, "1", "1.0" -> the same text; other text as it is."""
    number = _number(value)
    return repr(number) if number is not None else str(value)


def binary_labels(values: pd.Series, spec: LabelSpec) -> pd.Series:
    """The label as the model learnt it (0/1; NaN where missing), from the label as the world
    knows it, encoded as ExampleGen encodes it."""
    present = values.notna() & (values.astype(str) != "")
    if spec.positive_above is not None:
        encoded = (pd.to_numeric(values, errors="coerce") > spec.positive_above).astype("float64")
    elif spec.positive is not None:
        positive = {_canonical(v) for v in spec.positive}
        encoded = values.map(lambda v: float(_canonical(v) in positive), na_action="ignore")
    else:  # a derived (ratio) label arrives as its 0/1 value
        encoded = pd.to_numeric(values, errors="coerce")
    return encoded.where(present)


def _auc_se(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982), Radiology 143(1): the standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(max(var, 0.0) / (positives * negatives))


def _metric(task: str, labels: pd.Series, predicted: pd.Series) -> tuple[float, float] | str:
    """(value, standard error), or why there is none."""
    if task == "binary":
        positives = int((labels == 1).sum())
        if positives in (0, len(labels)):
            return "labels of one class only: AUC is undefined"
        auc = float(roc_auc_score(labels, pd.to_numeric(predicted, errors="coerce").fillna(0.0)))
        return auc, _auc_se(auc, positives, len(labels) - positives)
    if task == "multiclass":
        right = (predicted.astype(str) == labels.astype(str)).astype("float64")
        return float(right.mean()), float(right.std(ddof=0) / math.sqrt(len(right)))
    errors = np.abs(pd.to_numeric(predicted, errors="coerce") - pd.to_numeric(labels, errors="coerce")).dropna()
    if errors.empty:
        return "no numeric label next to a numeric prediction"
    return float(errors.mean()), float(errors.std(ddof=0) / math.sqrt(len(errors)))


def _change(drop: float) -> str:
    return f"{drop:.1%} worse" if drop > 0 else f"{-drop:.1%} better" if drop < 0 else "the same"


def quality(canary: Side, stable: Side, cfg: CanaryAnalysis, spec: LabelSpec) -> Check:
    metric, higher_is_better = QUALITY_METRIC[spec.task]
    values, errors, labelled = {}, {}, {}
    for who, side in (("canary", canary), ("stable", stable)):
        if spec.name not in side.rows.columns:
            return Check(
                "quality", NOT_JUDGED, f"no labels in the {who}'s window (join a labels file in RequestWindow)"
            )
        raw = side.rows[spec.name]
        labels = binary_labels(raw, spec) if spec.task == "binary" else raw.where(raw.astype(str) != "")
        keep = labels.notna() & side.rows[PREDICTION].notna()
        labelled[who] = int(keep.sum())
        if labelled[who] < cfg.min_labelled_rows:
            continue
        measured = _metric(spec.task, labels[keep], side.rows[PREDICTION][keep])
        if isinstance(measured, str):
            return Check("quality", NOT_JUDGED, f"{who}: {measured}", {"labelled_rows": labelled})
        values[who], errors[who] = measured
    numbers = {"metric": metric, "labelled_rows": labelled, "min_labelled_rows": cfg.min_labelled_rows}
    if len(values) < 2:
        counts = ", ".join(f"{who} {n:,}" for who, n in labelled.items())
        detail = f"labelled rows {counts}: at least {cfg.min_labelled_rows:,} each needed"
        return Check("quality", NOT_JUDGED, detail, numbers)
    worse = values["stable"] - values["canary"] if higher_is_better else values["canary"] - values["stable"]
    drop = worse / abs(values["stable"]) if values["stable"] else (math.inf if worse > 0 else 0.0)
    se = math.hypot(errors["canary"], errors["stable"])
    z = worse / se if se else (math.inf if worse > 0 else 0.0)
    numbers |= {"canary": values["canary"], "stable": values["stable"], "relative_drop": drop, "z": z}
    numbers |= {"standard_error": errors, "max_drop": cfg.max_quality_drop}
    detail = (
        f"{metric} {values['canary']:.4f} (canary, {labelled['canary']:,} labelled) vs {values['stable']:.4f} "
        f"(stable, {labelled['stable']:,}): {_change(drop)} (at most {cfg.max_quality_drop:.0%} worse allowed), "
        f"z = {z:.2f}"
    )
    failed = drop > cfg.max_quality_drop and z > Z_ONE_SIDED_1PCT
    return Check("quality", FAILED if failed else OK, detail, numbers)


# ------------------------------------------------------------------------------------ latency


def request_latencies(side: Side) -> pd.Series:
    """One latency per request (ms): each of a request's rows carries the same one."""
    if REQUEST_LATENCY_MS not in side.rows.columns:
        return pd.Series(dtype="float64")
    latency = pd.to_numeric(side.rows[REQUEST_LATENCY_MS], errors="coerce")
    return latency.groupby(side.rows[REQUEST_ID]).first().dropna().astype("float64")


def latency(canary: Side, stable: Side, cfg: CanaryAnalysis) -> Check:
    values = {"canary": request_latencies(canary), "stable": request_latencies(stable)}
    counts = {who: len(v) for who, v in values.items()}
    for who, side in (("canary", canary), ("stable", stable)):
        if not counts[who]:
            detail = (
                f"no request latencies for the {who} {side.version}: its request log lines have no latency_ms "
                "(written by a predictor older than the latency log; serve it with the current image to compare)"
            )
            return Check("latency", NOT_JUDGED, detail, {f"{w}_requests": n for w, n in counts.items()})
    if min(counts.values()) < cfg.min_requests:
        detail = f"requests with a latency: canary {counts['canary']:,}, stable {counts['stable']:,}; "
        detail += f"at least {cfg.min_requests:,} each needed"
        return Check("latency", NOT_JUDGED, detail, {f"{w}_requests": n for w, n in counts.items()})
    quantiles = {who: {q: float(v.quantile(q / 100)) for q in (50, 95)} for who, v in values.items()}
    p95, base = quantiles["canary"][95], quantiles["stable"][95]
    increase = p95 / base - 1 if base else (math.inf if p95 > 0 else 0.0)
    # Is the canary's latency stochastically larger? Ranks, so a few slow outliers on a small side
    # do not decide it alone.
    p_value = float(mannwhitneyu(values["canary"], values["stable"], alternative="greater").pvalue)
    # Flat, so that each is a KFP metric (component.py logs the numbers that are numbers).
    numbers = {f"{who}_p{q}_ms": quantiles[who][q] for who in values for q in (50, 95)}
    numbers |= {f"{who}_requests": n for who, n in counts.items()}
    numbers |= {"p95_increase": increase, "p_value": p_value, "max_increase": cfg.max_latency_increase}
    numbers |= {"p95_increase_ms": p95 - base, "min_increase_ms": cfg.min_latency_increase_ms}
    detail = (
        f"p95 {p95:.1f} ms (canary, p50 {quantiles['canary'][50]:.1f}) vs {base:.1f} ms (stable, p50 "
        f"{quantiles['stable'][50]:.1f}): {increase:+.0%}, {p95 - base:+.1f} ms "
        f"(allowed +{cfg.max_latency_increase:.0%} or +{cfg.min_latency_increase_ms:g} ms), "
        f"Mann-Whitney p = {p_value:.2g}"
    )
    # All three: relative, absolute (a share of traffic alone costs a process a few ms) and significant.
    failed = increase > cfg.max_latency_increase and p95 - base > cfg.min_latency_increase_ms and p_value < SIGNIFICANCE
    return Check("latency", FAILED if failed else OK, detail, numbers)
