"""RequestWindow: the predictor's request log for a time window [start, end), as a dataset.

One row per predicted instance: the model's raw features (config.features) typed as its
training data, the label where ground truth arrived later (a labels file joined by request id
and instance index), the request id, instance index, time, model version, prediction and,
where the log has it, the request's latency (contracts/monitoring.py names the columns).
Rejected requests are counted by error, not rows.
Writes window.csv + window.json + labelled.csv (the labelled rows as training data, for a
retrain) to `window` and the window's TFDV statistics to `statistics` in StatisticsGen's
layout (Split-window/FeatureStats.pb). Each output is built in a staging directory and moved
into place whole, so a failed run leaves no half-written window.

Column types, first found: the `schema` input; the training statistics of the newest served
version in `model_registry`; config.validation.schema_path; else inferred from the logged
values (all integers -> INT, all numbers -> FLOAT, else BYTES), as ExampleGen infers them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.common.io import log, step, write_json
from components.common.readers import load_schema
from components.request_window.labels import join_labels, read_labels
from components.request_window.logs import RequestLogError, Scan, iso, scan, window_bounds
from components.request_window.missing import at_float32, fills_as_missing, zero_is_a_fill
from contracts.artifacts import stats_path
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.monitoring import (
    LABELLED_CSV,
    LABELLED_ROWS,
    MODEL_VERSION,
    PREDICTION,
    PROBABILITY_PREFIX,
    REJECTED_BY_VERSION,
    REQUEST_ID,
    REQUEST_INDEX,
    REQUEST_LATENCY_MS,
    REQUEST_TIME,
    WINDOW_COLUMNS,
    WINDOW_CSV,
    WINDOW_SPLIT,
    WINDOW_SUMMARY,
    served_versions_in_registry,
    unknown_versions_message,
)
from contracts.registry import TRAINING_STATS, checked_registry

INT, FLOAT, BYTES = "INT", "FLOAT", "BYTES"
_TOP_ERRORS = 20  # rejected requests: the most frequent error messages kept in window.json


@dataclass(frozen=True)
class Inputs:
    # A request-log file, glob or directory (the predictor's requests-*.jsonl, or Cloud
    # Logging's export <bucket>/<log_id>/), local or gs://.
    request_log: str
    start: str = ""  # ISO 8601 (naive: UTC); "": window_hours before end
    end: str = ""  # ISO 8601, excluded; "": now
    window_hours: float = 24.0
    model_name: str = ""  # keep only the lines of this served model name; "": every line
    labels: str = ""  # ground truth that arrived later: CSV or JSON lines (labels.py)
    schema: str = ""  # schema.pbtxt (file or SchemaGen output) typing the columns
    # The registry the served versions were pushed to (config.model_name's versions): every
    # version in the window must be there, and the newest one's training statistics type the columns.
    model_registry: str = ""


@dataclass(frozen=True)
class Outputs:
    window: str  # window.csv + window.json
    statistics: str  # Split-window/FeatureStats.pb


@dataclass
class Result(ExecutorResult):
    rows: int
    labelled_rows: int
    rejected: int
    model_versions: dict[str, int]
    start: str
    end: str
    types_from: str
    warnings: list[str] = field(default_factory=list)


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    start, end = window_bounds(inputs.start, inputs.end, inputs.window_hours)
    label = config.label.name
    _check_names(config)
    with step(f"RequestWindow: request log {inputs.request_log} from {iso(start)} to {iso(end)}"):
        found = scan(inputs.request_log, start, end, inputs.model_name)
    if not found.predictions:
        raise RequestLogError(_empty_message(inputs.request_log, start, end, found))
    versions = Counter(str(p.get("model_version") or "") for p in found.predictions)
    registry_versions = _served_versions(config, inputs, sorted(versions))
    training, training_path = training_statistics(registry_versions)
    types, types_from = column_types(config, inputs, training, training_path)
    window, quality = build_window(config, found, types, zero_is_a_fill(training))
    warnings = _warnings(inputs.request_log, found, quality)
    labels_info: dict = {}
    if inputs.labels:
        labels, labels_info = read_labels(inputs.labels, label)
        # The label as the world gives it (text, or numbers as given), not as the training
        # statistics type it: ExampleGen encodes a text label to an int index.
        types[label] = label_kind(labels[label].tolist())
        labels[label], bad = typed(labels[label].tolist(), types[label])
        window, labels_info["unmatched"] = join_labels(window, labels, label, inputs.labels)
        labels_info["bad_values"] = bad
    training_rows = labelled_rows(config, window)
    labelled = len(training_rows)
    served_side = (REQUEST_ID, REQUEST_INDEX, REQUEST_TIME, MODEL_VERSION, REQUEST_LATENCY_MS)
    columns = [c for c in window.columns if c not in served_side]
    with step(f"RequestWindow: TFDV statistics of {len(window):,} rows"):
        # In memory: a day of one predictor's requests fits. For more, the same statistics come
        # from tfdv.GenerateStatistics in a Beam pipeline over window.csv (components/common/beam.py).
        floats = [c for c in columns if types.get(c) == FLOAT]
        stats = tfdv.generate_statistics_from_dataframe(at_float32(window[columns], floats))
    summary = {
        "rows": len(window),
        LABELLED_ROWS: labelled,  # the rows of labelled.csv
        "rejected": sum(found.rejected.values()),
        "rejected_errors": dict(found.rejected.most_common(_TOP_ERRORS)),
        REJECTED_BY_VERSION: dict(found.rejected_by_version),
        "model_versions": dict(sorted(versions.items())),
        "model_names": dict(found.model_names),
        "start": iso(start),
        "end": iso(end),
        "request_log": inputs.request_log,
        "sources": found.files,
        "formats": dict(found.formats),
        "lines_read": found.lines,
        "skipped": dict(found.skipped),
        "files_skipped_by_date": found.files_skipped_by_date,
        "not_json_at": found.not_json_at,
        "missing_values": quality["missing"],
        # Fill values ("" always; 0 where training had missing values and no 0) counted as missing.
        "fills_as_missing": quality["filled"],
        "zero_fills_from": training_path if training is not None else "",
        "bad_values": quality["bad"],
        "column_types": types,
        "types_from": types_from,
        "prediction": quality["prediction"],
        "labels": labels_info,
        "registry_versions": {v: hit.path for v, hit in registry_versions.items() if hit},
        "warnings": warnings,
    }
    _write(outputs, window, training_rows, stats, summary)
    for warning in warnings:
        log.warning("RequestWindow: %s", warning)
    log.info("RequestWindow: %s rows (%s labelled), versions %s", len(window), labelled, summary["model_versions"])
    return Result(
        rows=len(window),
        labelled_rows=labelled,
        rejected=summary["rejected"],
        model_versions=summary["model_versions"],
        start=summary["start"],
        end=summary["end"],
        types_from=types_from,
        warnings=warnings,
    )


# ------------------------------------------------------------------------------------ checks


def _check_names(config: PipelineConfig) -> None:
    taken = sorted(set(config.feature_names + [config.label.name]) & set(WINDOW_COLUMNS))
    if taken:
        raise RequestLogError(
            f"feature/label name(s) {taken} are names the request window gives its own columns {list(WINDOW_COLUMNS)} "
            "(contracts/monitoring.py): the window cannot hold both"
        )


def _empty_message(location: str, start, end, found: Scan) -> str:
    outside = found.skipped["outside_window"]
    message = (
        f"no prediction lines between {iso(start)} and {iso(end)} in {location}; "
        f"{outside:,} lines were outside the window"
    )
    if found.newest_outside:
        message += f"; the newest was at {iso(found.newest_outside)}"
    if found.rejected:
        message += f"; {sum(found.rejected.values()):,} rejected requests were in the window"
    other = {k: v for k, v in found.skipped.items() if k != "outside_window"}
    if other:
        message += f"; lines skipped: {other}"
    if found.files_skipped_by_date:
        message += f"; {found.files_skipped_by_date} files in day directories away from the window were not read"
    return message


def _served_versions(config: PipelineConfig, inputs: Inputs, versions: list[str]) -> dict:
    if not inputs.model_registry:
        return {}
    registry = checked_registry(inputs.model_registry)
    found = served_versions_in_registry(registry, config.model_name, versions)
    problem = unknown_versions_message(registry, config.model_name, found)
    if problem:
        raise RequestLogError(f"{inputs.request_log}: {problem}")
    return found


def _warnings(location: str, found: Scan, quality: dict) -> list[str]:
    warnings = []
    if found.skipped["not_json"]:
        warnings.append(
            f"{found.skipped['not_json']:,} of {found.lines:,} lines in {location} are not JSON, skipped; first at "
            + "; ".join(found.not_json_at)
        )
    if quality["bad"]:
        warnings.append(f"values that do not fit the column's type, counted as missing: {quality['bad']}")
    return warnings


# ------------------------------------------------------------------------------------ types


def training_statistics(registry_versions: dict) -> tuple[statistics_pb2.DatasetFeatureStatisticsList | None, str]:
    """The newest served version's training statistics and their path; (None, "") if none."""
    served = [hit for hit in registry_versions.values() if hit]
    if served:
        newest = max(served, key=lambda hit: hit.version)
        path = os.path.join(newest.path, TRAINING_STATS)
        if tf.io.gfile.exists(path):
            return tfdv.load_stats_binary(path), path
    return None, ""


def column_types(config: PipelineConfig, inputs: Inputs, training, training_path: str) -> tuple[dict[str, str], str]:
    """Feature/label name -> INT | FLOAT | BYTES from the first source there is, and which."""
    if inputs.schema:
        return _schema_types(load_schema(inputs.schema)), f"schema {inputs.schema}"
    if training is not None:
        return _stats_types(training), f"training statistics {training_path}"
    schema = config.validation.schema_path
    if schema and tf.io.gfile.exists(schema):
        return _schema_types(load_schema(schema)), f"schema {schema}"
    return {}, "inferred from the logged values"


def _schema_types(schema: schema_pb2.Schema) -> dict[str, str]:
    names = {schema_pb2.INT: INT, schema_pb2.FLOAT: FLOAT, schema_pb2.BYTES: BYTES}
    return {f.name: names[f.type] for f in schema.feature if f.type in names}


def _stats_types(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, str]:
    kinds = statistics_pb2.FeatureNameStatistics
    names = {kinds.INT: INT, kinds.FLOAT: FLOAT, kinds.STRING: BYTES, kinds.BYTES: BYTES}
    features = stats.datasets[0].features if stats.datasets else []
    return {".".join(f.path.step) or f.name: names[f.type] for f in features if f.type in names}


def infer_kind(values: list) -> str:
    present = [v for v in values if v is not None and v == v]  # NaN != NaN
    if all(isinstance(v, (bool, int)) for v in present):
        return INT
    if all(isinstance(v, (bool, int, float)) for v in present):
        return FLOAT
    return BYTES


def label_kind(values: list) -> str:
    """A labels file's column as given: INT or FLOAT where every value is (or reads as) one,
    else BYTES. A CSV gives text, JSON lines numbers or text."""
    present = [v for v in values if v is not None and v == v and v != ""]
    numbers = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
    if numbers.isna().any() or any(isinstance(v, bool) for v in present):
        return BYTES
    return INT if bool((numbers % 1 == 0).all()) else FLOAT


def typed(values: list, kind: str) -> tuple[pd.Series, int]:
    """Values as the column's type (Int64 / float64 / str, missing where None), and how many
    did not fit it (also missing)."""
    raw = pd.Series(values, dtype=object)
    present = raw.notna()
    if kind == BYTES:
        text = raw.map(lambda v: v.decode() if isinstance(v, bytes) else str(v), na_action="ignore")
        return text.where(present, None), 0
    numbers = pd.to_numeric(raw.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
    fits = numbers.notna() if kind == FLOAT else numbers.notna() & (numbers % 1 == 0)
    bad = int((present & ~fits).sum())
    numbers = numbers.where(fits)
    return (numbers.astype("Int64") if kind == INT else numbers.astype("float64")), bad


# ------------------------------------------------------------------------------------ the table


def build_window(
    config: PipelineConfig, found: Scan, types: dict[str, str], zero_fills: set[str]
) -> tuple[pd.DataFrame, dict]:
    """The window's rows; `zero_fills`: the numeric features whose 0 is a fill (missing.py)."""
    lines = found.predictions
    logged = [p["features"] if isinstance(p.get("features"), dict) else {} for p in lines]
    absent = [n for n in config.feature_names if not any(n in f for f in logged)]
    if absent:
        seen = sorted(set().union(*logged))
        raise RequestLogError(
            f"feature(s) {absent} of the config are in none of the {len(lines):,} prediction lines of the window; "
            f"the logged features are {seen}: the requests were served by a model with other inputs (check the "
            "config and the request log's model)"
        )
    columns: dict[str, object] = {
        REQUEST_ID: [str(p["request_id"]) for p in lines],
        REQUEST_INDEX: [int(p.get("index") or 0) for p in lines],
        REQUEST_TIME: [iso(t) for t in found.times],
        MODEL_VERSION: [str(p.get("model_version") or "") for p in lines],
    }
    latencies = [p.get("latency_ms") for p in lines]
    if any(v is not None for v in latencies):  # older predictors did not log it
        latency = pd.to_numeric(pd.Series(latencies, dtype=object), errors="coerce")
        columns[REQUEST_LATENCY_MS] = latency.astype("float64")
    missing, bad, filled = {}, {}, {}
    for name in config.feature_names:
        values = [f.get(name) for f in logged]
        kind = types.get(name) or infer_kind(values)
        types.setdefault(name, kind)
        column, bad_count = typed(values, kind)
        columns[name], fill_count = fills_as_missing(column, name in zero_fills)
        if values.count(None):
            missing[name] = values.count(None)
        if bad_count:
            bad[name] = bad_count
        if fill_count:
            filled[name] = fill_count
    prediction = _predictions([p.get("prediction") for p in lines], columns)
    window = pd.DataFrame(columns).sort_values([REQUEST_TIME, REQUEST_ID, REQUEST_INDEX], kind="stable")
    quality = {"missing": missing, "bad": bad, "filled": filled, "prediction": prediction}
    return window.reset_index(drop=True), quality


def _predictions(values: list, columns: dict) -> dict:
    """binary/regression: the number; multiclass: the class and one probability column per class."""
    if not any(isinstance(v, dict) for v in values):
        columns[PREDICTION] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype("float64")
        return {"kind": "number"}
    dicts = [v if isinstance(v, dict) else {} for v in values]
    classes = list(dict.fromkeys(c for d in dicts for c in (d.get("probabilities") or {})))
    columns[PREDICTION] = [d.get("class") for d in dicts]
    for name in classes:
        probabilities = [(d.get("probabilities") or {}).get(name) for d in dicts]
        columns[PROBABILITY_PREFIX + name] = pd.to_numeric(pd.Series(probabilities, dtype=object), errors="coerce")
    return {"kind": "class", "classes": classes}


def labelled_rows(config: PipelineConfig, window: pd.DataFrame) -> pd.DataFrame:
    """The rows with a label, as training data: the features and the label as given, nothing
    served-side. A fill value counted as missing stays missing, as an empty cell of the data."""
    columns = [*config.feature_names, config.label.name]
    if config.label.name not in window.columns:
        return pd.DataFrame(columns=columns)
    return window.loc[window[config.label.name].notna(), columns].reset_index(drop=True)


# ------------------------------------------------------------------------------------ writing


def _write(outputs: Outputs, window: pd.DataFrame, labelled: pd.DataFrame, stats, summary: dict) -> None:
    """Each output is written whole in a staging directory and then moved into place: the
    statistics first, the window last, and window.json last of all."""
    stats_dir = _staging(outputs.statistics)
    window_dir = _staging(outputs.window)
    try:
        path = stats_path(stats_dir, WINDOW_SPLIT)
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(stats.SerializeToString())
        window.to_csv(os.path.join(window_dir, WINDOW_CSV), index=False)
        labelled.to_csv(os.path.join(window_dir, LABELLED_CSV), index=False)
        summary["statistics"] = stats_path(outputs.statistics, WINDOW_SPLIT)
        write_json(os.path.join(window_dir, WINDOW_SUMMARY), summary)
        _publish(stats_dir, outputs.statistics)
        _publish(window_dir, outputs.window)
    finally:
        for staging in (stats_dir, window_dir):
            shutil.rmtree(staging, ignore_errors=True)


def _staging(dest: str) -> str:
    if "://" in dest:
        return tempfile.mkdtemp(prefix="request-window-")
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    # Beside the destination: on the same file system, so the move is one rename.
    return tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.tmp-", dir=parent)


def _publish(staging: str, dest: str) -> None:
    if "://" not in dest:
        if os.path.isdir(dest):
            shutil.rmtree(dest)  # KFP's empty output directory, or a retried run's output
        try:
            os.replace(staging, dest)
            return
        except OSError:  # e.g. Cloud Storage FUSE without directory renames: copy instead
            os.makedirs(dest, exist_ok=True)
    # Object stores have no directory rename: copy file by file, the summary last.
    files = [os.path.relpath(os.path.join(d, n), staging) for d, _, names in os.walk(staging) for n in names]
    for rel in sorted(files, key=lambda r: r == WINDOW_SUMMARY):
        target = os.path.join(dest, rel)
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(os.path.join(staging, rel), target, overwrite=True)
