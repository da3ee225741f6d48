"""Monitor: a request window (RequestWindow's outputs) judged against the served model's
training data (skew), the previous window (drift), and the model's evaluation (live quality),
and a decision RetrainTrigger reads: "retrain", "ok" or "too_small".

- skew: the window's features against the training statistics of the version that served
  most of its rows (the registry's `<version>/training_stats/FeatureStats.pb`);
- drift: against the previous window of the same model, kept in the registry under
  `<model>/monitoring/windows/<window end>/` (HISTORY); the Monitor adds this window there
  after deciding, so the next run finds it. A too-small window is not kept;
- prediction drift: the prediction column against the previous window's, when the same
  version served both (binary/regression: JSD of the value; multiclass: L-infinity of the
  predicted classes' shares). Reported, not a retrain reason on its own: a new model or a
  real change in the world moves predictions too;
- live quality: the task's main metric on the labelled rows of that version (quality.py).

Distances and thresholds are components/common/drift.py's with config.monitoring's thresholds
(raised to the noise floor at the sizes compared). Bad input raises MonitorError and writes no
decision, so nothing downstream retrains.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import pandas as pd
import tensorflow as tf
import tensorflow_data_validation as tfdv

from components.common import drift
from components.common.io import log, read_json, write_json, write_text
from components.monitor import page, quality, report
from components.monitor.charts import Statistics
from contracts.artifacts import stats_path
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.monitoring import (
    MODEL_VERSION,
    PREDICTION,
    WINDOW_CSV,
    WINDOW_SPLIT,
    WINDOW_SUMMARY,
    served_versions_in_registry,
    unknown_versions_message,
)
from contracts.registry import TRAINING_STATS, checked_registry, model_base

RETRAIN, OK, TOO_SMALL = "retrain", "ok", "too_small"
DECISION_FILE = "decision.json"  # what RetrainTrigger reads: {"decision", "reasons"}
REPORT_FILE = "monitor.json"  # every distance, the quality, the window, beside it
WINDOW_STATS = "window_stats.pb"  # the window statistics compared, beside them
HISTORY = os.path.join("monitoring", "windows")
HISTORY_STATS = "FeatureStats.pb"
HISTORY_REPORT = "report.json"  # written last: an entry counts once it exists
SHORT = {drift.JSD: "JSD", drift.LINF: "L-inf"}


class MonitorError(ValueError):
    """Input the monitor cannot judge; says what and what to check. No decision is written."""


@dataclass(frozen=True)
class Inputs:
    window: str  # RequestWindow's window: window.csv + window.json
    statistics: str  # RequestWindow's statistics: Split-window/FeatureStats.pb
    model_registry: str  # where the served versions (and the window history) are


@dataclass(frozen=True)
class Outputs:
    decision: str  # a directory: decision.json + monitor.json
    report: str = ""  # Markdown summary (a file)
    view: str = ""  # HTML summary (a file)


@dataclass
class Result(ExecutorResult):
    decision: str
    reasons: list[str]
    notes: list[str]
    model_version: str
    rows: int
    labelled_rows: int
    previous_window: str = ""  # the history entry drift was measured against
    metrics: dict[str, float] = field(default_factory=dict)  # for KFP Metrics


# ------------------------------------------------------------------------------------ history


def history_dir(registry: str, model_name: str) -> str:
    return os.path.join(model_base(registry, model_name), HISTORY)


def window_key(end: str) -> str:
    """A window's end as a name that sorts by time: 20261121T000000Z."""
    when = dt.datetime.fromisoformat(end.replace("Z", "+00:00")).astimezone(dt.UTC)
    return when.strftime("%Y%m%dT%H%M%SZ")


def previous_window(registry: str, model_name: str, key: str) -> tuple[str, str] | None:
    """(key, directory) of the newest complete window that ended before `key`, or None."""
    base = history_dir(registry, model_name)
    if not tf.io.gfile.isdir(base):
        return None
    keys = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(base))
    for name in reversed(keys):
        if name < key and tf.io.gfile.exists(os.path.join(base, name, HISTORY_REPORT)):
            return name, os.path.join(base, name)
    return None


def record_window(registry: str, model_name: str, key: str, statistics_file: str, entry: dict) -> str:
    """The window's statistics, then its report (last: the entry counts once it is there)."""
    where = os.path.join(history_dir(registry, model_name), key)
    tf.io.gfile.makedirs(where)
    if tf.io.gfile.exists(os.path.join(where, HISTORY_REPORT)):  # a re-run of this window: replace it whole
        tf.io.gfile.remove(os.path.join(where, HISTORY_REPORT))
    tf.io.gfile.copy(statistics_file, os.path.join(where, HISTORY_STATS), overwrite=True)
    write_json(os.path.join(where, HISTORY_REPORT), entry)
    return where


# ------------------------------------------------------------------------------------ input


def _read_summary(window: str) -> dict:
    path = os.path.join(window, WINDOW_SUMMARY)
    if not tf.io.gfile.exists(path):
        raise MonitorError(f"{path} does not exist: the window input must be RequestWindow's window output")
    return read_json(path)


def _served_version(config: PipelineConfig, registry: str, summary: dict) -> tuple[str, object, list[str]]:
    """The version that served most rows (the newest on a tie), its registry entry, and notes."""
    counts = summary.get("model_versions") or {}
    if not counts:
        raise MonitorError(f"the window ({summary.get('start')} to {summary.get('end')}) has no served rows")
    found = served_versions_in_registry(registry, config.model_name, sorted(counts))
    problem = unknown_versions_message(registry, config.model_name, found)
    if problem:
        raise MonitorError(problem)
    version = max(counts, key=lambda v: (counts[v], int(v)))
    total = sum(counts.values())
    notes = [f"skew against the training data of version {version}, which served {counts[version]:,} of {total:,} rows"]
    others = {v: n for v, n in counts.items() if v != version}
    if others:
        notes.append(f"other versions in the window: {others} (their rows are in the window's statistics too)")
    return version, found[version], notes


def _names(stats) -> set[str]:
    return {".".join(f.path.step) or f.name for f in stats.datasets[0].features} if stats.datasets else set()


def _load_stats(path: str, what: str):
    if not tf.io.gfile.exists(path):
        raise MonitorError(f"{path} does not exist: {what}")
    return tfdv.load_stats_binary(path)


def _check_features(config: PipelineConfig, stats, where: str) -> None:
    missing = [n for n in config.feature_names if n not in _names(stats)]
    if missing:
        raise MonitorError(
            f"feature(s) {missing} of the config are not in {where} (it holds {sorted(_names(stats))}): the config "
            "does not describe the served model, or the statistics are of other data"
        )


def _labelled(config: PipelineConfig, window: str, version: str) -> tuple[pd.Series, pd.Series]:
    """The labels and predictions of the rows `version` served that have a label."""
    label = config.label.name
    wanted = {label, PREDICTION, MODEL_VERSION}
    with tf.io.gfile.GFile(os.path.join(window, WINDOW_CSV)) as f:
        rows = pd.read_csv(f, usecols=lambda c: c in wanted, dtype={MODEL_VERSION: str})
    if label not in rows.columns:  # no labels file was given
        return pd.Series(dtype=object), pd.Series(dtype=object)
    rows = rows[(rows[MODEL_VERSION] == version) & rows[label].notna()]
    return rows[label], rows[PREDICTION]


# ------------------------------------------------------------------------------------ the decision


def _reason(kind: str, f: drift.FeatureDrift) -> str:
    return f"{kind}: {f.feature} {SHORT[f.measure]} {f.distance:.3f} > {f.effective_threshold:.3f} ({f.rows[0]:,} rows)"


def _quality_reason(q: dict) -> str:
    sign = "<" if q["higher_is_better"] else ">"
    return (
        f"quality: {q['metric']} {q['live']:.3f} {sign} {q['limit']:.3f} (evaluated {q['evaluated']:.3f}, "
        f"{q['rows']:,} labelled rows)"
    )


def decide(rows: int, min_rows: int, skew, window_drift, live: dict) -> tuple[str, list[str]]:
    if rows < min_rows:
        return TOO_SMALL, [f"the window has {rows:,} rows; at least {min_rows:,} are needed to judge"]
    reasons = [_reason("skew", f) for f in skew.with_verdict(drift.DRIFTED)]
    if window_drift is not None:
        reasons += [_reason("drift", f) for f in window_drift.with_verdict(drift.DRIFTED)]
    if live.get("dropped"):
        reasons.append(_quality_reason(live))
    return (RETRAIN if reasons else OK), reasons


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    thresholds, features = config.monitoring, config.feature_names
    summary = _read_summary(inputs.window)
    registry = checked_registry(inputs.model_registry)
    version, hit, notes = _served_version(config, registry, summary)
    window_file = stats_path(inputs.statistics, WINDOW_SPLIT)
    current = _load_stats(window_file, "the window's statistics (RequestWindow's statistics output)")
    _check_features(config, current, f"the window's statistics {window_file}")
    training = _load_stats(
        os.path.join(hit.path, TRAINING_STATS), f"version {version} was pushed without its training statistics"
    )
    _check_features(config, training, f"the training statistics of version {version}")
    rows = int(summary.get("rows", 0))
    filled = summary.get("fills_as_missing") or {}
    if filled:  # RequestWindow counts them so (components/request_window/missing.py)
        notes.append(f"fill values (0 or '') counted as missing, as the training data counts them: {filled}")

    skew = drift.compare(current, training, thresholds, features)
    key = window_key(summary["end"])
    previous = previous_window(registry, config.model_name, key)
    window_drift = prediction_drift = before = None
    if previous is None:
        notes.append("no previous window of this model in the registry: drift not measured (this is the first)")
    else:
        before = tfdv.load_stats_binary(os.path.join(previous[1], HISTORY_STATS))
        window_drift = drift.compare(current, before, thresholds, features)
        earlier = read_json(os.path.join(previous[1], HISTORY_REPORT))
        notes.append(f"drift against the window ending {earlier.get('end', previous[0])}")
        if earlier.get("model_version") != version:
            notes.append(
                f"the previous window was served by version {earlier.get('model_version')}: prediction drift not "
                "compared across versions"
            )
        elif PREDICTION in _names(current) and PREDICTION in _names(before):
            prediction_drift = drift.compare(current, before, thresholds, [PREDICTION])
            notes += [
                f"prediction drift (not a retrain reason alone): {f.describe()}" for f in prediction_drift.features
            ]

    labels, predictions = _labelled(config, inputs.window, version)
    live = quality.judge(config.label, labels, predictions, hit.metadata, thresholds.quality_drop, thresholds.min_rows)
    if live.get("note"):
        notes.append(f"live quality: {live['note']}")
    decision, reasons = decide(rows, thresholds.min_rows, skew, window_drift, live)

    metrics = {"rows": float(rows)}
    for prefix, found in (("skew", skew), ("drift", window_drift), ("prediction_drift", prediction_drift)):
        for f in found.features if found else []:
            if f.distance is not None:
                metrics[f"{prefix}_{f.feature}" if prefix != "prediction_drift" else prefix] = f.distance
    if live.get("live") is not None:
        metrics[f"live_{live['metric']}"] = live["live"]
    result = Result(
        decision=decision,
        reasons=reasons,
        notes=notes,
        model_version=version,
        rows=rows,
        labelled_rows=int(len(labels)),
        previous_window=previous[0] if previous else "",
        metrics=metrics,
    )
    full = {
        **result.to_dict(),
        "window": {k: summary.get(k) for k in ("start", "end", "rows", "labelled_rows", "rejected", "model_versions")},
        "skew": skew.to_dict(),
        "drift": window_drift.to_dict() if window_drift else None,
        "prediction_drift": prediction_drift.to_dict() if prediction_drift else None,
        "quality": live,
        "warnings": summary.get("warnings", []),
    }
    result.metrics.update(report.summary_metrics(full))  # for KFP Metrics (the component logs them all)
    tf.io.gfile.makedirs(outputs.decision)
    compared = os.path.join(outputs.decision, WINDOW_STATS)
    with tf.io.gfile.GFile(compared, "wb") as f:
        f.write(current.SerializeToString())
    write_json(os.path.join(outputs.decision, REPORT_FILE), full)
    write_json(
        os.path.join(outputs.decision, DECISION_FILE), {"decision": decision, "reasons": reasons, "notes": notes}
    )
    if outputs.report:
        write_text(outputs.report, report.markdown(full))
    if outputs.view:
        write_text(outputs.view, page.html_page(full, Statistics(training, current, before), config.model_name))
    if decision != TOO_SMALL:
        entry = {k: full[k] for k in ("decision", "reasons", "model_version", "rows")} | full["window"]
        record_window(registry, config.model_name, key, compared, entry)
    for line in reasons + notes:
        log.info("Monitor: %s", line)
    log.info("Monitor: decision %s for %s rows from %s to %s", decision, rows, summary.get("start"), summary.get("end"))
    return result
