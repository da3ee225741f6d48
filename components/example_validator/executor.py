"""ExampleValidator: TFDV anomalies of every split against the schema, plus the project's
own data checks.

Writes Split-<name>/SchemaDiff.pb (TFX's layout) and a readable report (JSON, Markdown,
HTML). An anomaly is blocking unless all its types are listed in validation.warn_only.
Two kinds are warnings by default:
  - SCHEMA_NEW_COLUMN: a column the schema does not know (validation.strict_columns: true
    makes it blocking);
  - DISTINCT_VALUES_GROWTH (the project's): a categorical feature with many times more
    distinct values than the training data of the model it would replace (the latest
    version in the registry).
  - TRAINING_DRIFT (the project's): a feature of the train split whose distribution drifted
    from the training data of that version, by components/common/drift.py with the
    monitoring section's thresholds; blocking when monitoring.training_drift is "block". The
    distances of every feature are in drift.json and the report.
The run fails on blocking anomalies, after the reports are written.

Rows appended from extra data (a labelled request window: ExampleGen's extra_data) carry only
the model's features and the label, so a column outside them (a ratio label's source columns,
a timestamp) is absent from those rows by construction. Its presence constraint is scaled to
the share of the split that came from the configured data, and the report says so; a column
missing from the configured data itself is still caught.
"""

from __future__ import annotations

import html
import os
from dataclasses import asdict, dataclass, field

from components.common import without

# IPython (~1 CPU-s) serves only TFDV's notebook display, an optional extra TFDV runs without.
with without("IPython", notice="Unable to import IPython"):
    import tensorflow_data_validation as tfdv

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.common import drift
from components.common.io import log, read_json, write_json, write_text
from components.common.readers import load_schema, load_split_stats
from contracts.artifacts import ANOMALIES_FILE, ANOMALIES_JSON, ANOMALIES_MARKDOWN, EXAMPLE_GEN_SUMMARY, split_dir
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.registry import TRAINING_STATS, latest_version

NEW_COLUMN = "SCHEMA_NEW_COLUMN"
DISTINCT_GROWTH = "DISTINCT_VALUES_GROWTH"
TRAINING_DRIFT = "TRAINING_DRIFT"
DRIFT_JSON = "drift.json"  # beside anomalies.json: drift.DriftReport.to_dict() and the baseline version
# Growth below this many new values is noise, whatever the factor (3 -> 10 values).
MIN_NEW_DISTINCT = 20


@dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    types: list[str]
    description: str
    blocking: bool


class DataValidationError(ValueError):
    """Blocking anomalies; the message lists split, feature, anomaly type and description."""

    def __init__(self, anomalies: list[Anomaly]):
        self.anomalies = anomalies
        lines = [f"  [{a.split}] feature '{a.feature}': {', '.join(a.types)}: {a.description}" for a in anomalies]
        super().__init__(
            f"data validation failed with {len(anomalies)} blocking anomal"
            f"{'y' if len(anomalies) == 1 else 'ies'}:\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class Inputs:
    statistics: str
    schema: str
    model_registry: str = ""  # where the baseline's training statistics are (default: push.registry)
    examples: str = ""  # ExampleGen's output: its summary says how many rows came from extra data


@dataclass(frozen=True)
class Outputs:
    anomalies: str
    anomalies_report: str = ""  # Markdown
    anomalies_view: str = ""  # HTML


@dataclass
class Result(ExecutorResult):
    anomalies: list[Anomaly] = field(default_factory=list)
    baseline_version: int | None = None  # whose training statistics the distinct counts were compared to
    drift: drift.DriftReport | None = None  # the train split against the baseline's training data

    @property
    def blocking(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.blocking]


def _anomaly_types(info: anomalies_pb2.AnomalyInfo) -> list[str]:
    names = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
    return names or ["UNKNOWN_TYPE"]


def collect(anomalies_by_split: dict[str, anomalies_pb2.Anomalies], warn_only: set[str]) -> list[Anomaly]:
    found = []
    for split, anomalies in anomalies_by_split.items():
        for feature, info in sorted(anomalies.anomaly_info.items()):
            types = _anomaly_types(info)
            description = "; ".join(r.description for r in info.reason) or info.description
            found.append(Anomaly(split, feature, types, description, blocking=not set(types) <= warn_only))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            types = _anomaly_types(info)
            found.append(Anomaly(split, "(dataset)", types, info.description, blocking=not set(types) <= warn_only))
    return found


def _distinct_counts(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, int]:
    return {
        f.path.step[0]: int(f.string_stats.unique)
        for f in stats.datasets[0].features
        if f.HasField("string_stats") and f.path.step
    }


def distinct_growth(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    reference: statistics_pb2.DatasetFeatureStatisticsList,
    factor: float,
    reference_name: str,
) -> list[Anomaly]:
    """Categorical features whose distinct values grew more than `factor` times (train split)."""
    before = _distinct_counts(reference)
    found = []
    for feature, now in sorted(_distinct_counts(current).items()):
        then = before.get(feature)
        if then and now > factor * then and now - then >= MIN_NEW_DISTINCT:
            found.append(
                Anomaly(
                    "train",
                    feature,
                    [DISTINCT_GROWTH],
                    f"{now:,} distinct values, {now / then:.1f}x the {then:,} in {reference_name}",
                    blocking=False,
                )
            )
    return found


def training_drift(report: drift.DriftReport, mode: str, reference_name: str) -> list[Anomaly]:
    """The drifted features of a drift report as anomalies, blocking in "block" mode."""
    knob = (
        "monitoring.training_drift is block (warn lets the run go on)"
        if mode == "block"
        else "monitoring.training_drift: block would stop the run"
    )
    return [
        Anomaly(
            "train",
            f.feature,
            [TRAINING_DRIFT],
            f"{f.describe()} against {reference_name}; {knob}; a feature's own threshold: "
            f"monitoring.thresholds.{f.feature}",
            blocking=mode == "block",
        )
        for f in report.with_verdict(drift.DRIFTED)
    ]


def drift_markdown(report: drift.DriftReport | None, baseline_version: int | None) -> str:
    if report is None:
        return ""
    rows = "\n".join(
        f"| `{f.feature}` | {f.measure} | {'' if f.distance is None else f'{f.distance:.4f}'} | "
        f"{f.effective_threshold:.4f} ({f.threshold:g}) | {f.rows[0]:,} / {f.rows[1]:,} | {f.verdict} |"
        for f in report.features
    )
    return (
        f"\n## Drift against the training data of version {baseline_version}\n\nDecision: {report.decision}.\n\n"
        "| feature | measure | distance | threshold (configured) | rows (new / baseline) | verdict |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n"
    )


def to_markdown(found: list[Anomaly], splits: list[str]) -> str:
    if not found:
        return f"# Data validation\n\nNo anomalies in splits {', '.join(splits)}.\n"
    rows = "\n".join(
        f"| {a.split} | `{a.feature}` | {', '.join(a.types)} | "
        f"{a.description.replace('|', '/')} | {'yes' if a.blocking else 'no'} |"
        for a in found
    )
    blocking = sum(a.blocking for a in found)
    return (
        f"# Data validation\n\n{len(found)} anomalies, {blocking} blocking.\n\n"
        "| split | feature | anomaly type | description | blocking |\n|---|---|---|---|---|\n" + rows + "\n"
    )


def to_html(found: list[Anomaly], splits: list[str]) -> str:
    if found:
        body = "".join(
            f"<tr class={'blocking' if a.blocking else 'warn'}><td>{html.escape(a.split)}</td>"
            f"<td><code>{html.escape(a.feature)}</code></td><td>{html.escape(', '.join(a.types))}</td>"
            f"<td>{html.escape(a.description)}</td><td>{'yes' if a.blocking else 'no'}</td></tr>"
            for a in found
        )
        table = (
            "<table><tr><th>split</th><th>feature</th><th>anomaly type</th><th>description</th>"
            f"<th>blocking</th></tr>{body}</table>"
        )
    else:
        table = f"<p>No anomalies in splits {html.escape(', '.join(splits))}.</p>"
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "tr.blocking{background:#fde2e2}tr.warn{background:#fff6d6}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>Data validation</title>"
        f"<style>{style}</style></head><body><h1>Data validation</h1>{table}</body></html>"
    )


def _extra_rows(examples: str) -> tuple[dict[str, int], dict[str, int]]:
    """(rows per split, rows per split from extra data) from ExampleGen's summary."""
    path = os.path.join(examples, EXAMPLE_GEN_SUMMARY) if examples else ""
    if not path or not tf.io.gfile.exists(path):
        return {}, {}
    summary = read_json(path)
    return summary.get("split_counts") or {}, summary.get("extra_split_counts") or {}


def schema_for_split(schema: schema_pb2.Schema, config: PipelineConfig, rows: int, extra: int) -> tuple:
    """The schema with the presence of columns the extra rows cannot carry scaled to the
    configured data's share of the split; and the columns so relaxed."""
    if not extra or not rows:
        return schema, []
    carried = {f.name for f in config.features} | {config.label.name}
    share = (rows - extra) / rows
    relaxed = schema_pb2.Schema()
    relaxed.CopyFrom(schema)
    names = []
    for feature in relaxed.feature:
        if feature.name in carried or not feature.HasField("presence"):
            continue
        if feature.presence.min_fraction > share:
            feature.presence.min_fraction = share * feature.presence.min_fraction
            names.append(feature.name)
    return relaxed, names


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    """Validates every split; raises DataValidationError on blocking anomalies."""
    splits = config.split.names
    schema = load_schema(inputs.schema)
    warn_only = set(config.validation.warn_only) | ({NEW_COLUMN} if not config.validation.strict_columns else set())
    by_split = {}
    split_rows, extra_rows = _extra_rows(inputs.examples)
    for split in splits:
        split_schema, relaxed = schema_for_split(schema, config, split_rows.get(split, 0), extra_rows.get(split, 0))
        if relaxed:
            log.info(
                "ExampleValidator: %s: %d of %d rows came from extra data without %s; their presence is "
                "checked on the rest",
                split,
                extra_rows[split],
                split_rows[split],
                ", ".join(relaxed),
            )
        anomalies = tfdv.validate_statistics(load_split_stats(inputs.statistics, split), split_schema)
        by_split[split] = anomalies
        os.makedirs(split_dir(outputs.anomalies, split), exist_ok=True)
        with open(os.path.join(split_dir(outputs.anomalies, split), ANOMALIES_FILE), "wb") as f:
            f.write(anomalies.SerializeToString())
    result = Result(anomalies=collect(by_split, warn_only))
    baseline = latest_version(inputs.model_registry or config.push.registry, config.model_name)
    reference = os.path.join(baseline.path, TRAINING_STATS) if baseline else ""
    if reference and tf.io.gfile.exists(reference):
        result.baseline_version = baseline.version
        result.anomalies += distinct_growth(
            load_split_stats(inputs.statistics, "train"),
            tfdv.load_stats_binary(reference),
            config.validation.max_distinct_growth,
            f"the training data of version {baseline.version}",
        )
        if config.monitoring.training_drift != "off":
            result.drift = drift.compare(
                load_split_stats(inputs.statistics, "train"),
                tfdv.load_stats_binary(reference),
                config.monitoring,
                features=config.feature_names,
            )
            result.anomalies += training_drift(
                result.drift, config.monitoring.training_drift, f"the training data of version {baseline.version}"
            )
            for f in result.drift.features:
                log.info("ExampleValidator: drift against version %d: %s", baseline.version, f.describe())
            write_json(
                os.path.join(outputs.anomalies, DRIFT_JSON),
                {"baseline_version": baseline.version, **result.drift.to_dict()},
            )
    write_json(os.path.join(outputs.anomalies, ANOMALIES_JSON), [asdict(a) for a in result.anomalies])
    markdown = to_markdown(result.anomalies, splits) + drift_markdown(result.drift, result.baseline_version)
    write_text(os.path.join(outputs.anomalies, ANOMALIES_MARKDOWN), markdown)
    if outputs.anomalies_report:
        write_text(outputs.anomalies_report, markdown)
    if outputs.anomalies_view:
        write_text(outputs.anomalies_view, to_html(result.anomalies, splits))
    for a in result.anomalies:
        if not a.blocking:
            log.warning("ExampleValidator: [%s] %s: %s: %s", a.split, a.feature, ", ".join(a.types), a.description)
    log.info(
        "ExampleValidator: %d anomalies (%d blocking) in splits %s", len(result.anomalies), len(result.blocking), splits
    )
    if result.blocking:
        raise DataValidationError(result.blocking)
    return result
