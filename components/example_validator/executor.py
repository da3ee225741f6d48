"""ExampleValidator: TFDV anomalies of every split against the schema.

Writes Split-<name>/SchemaDiff.pb (TFX's layout) and a readable report (JSON, Markdown,
HTML). Any anomaly whose types are not all listed in validation.warn_only is blocking:
the run fails with the list, after the reports are written.
"""

from __future__ import annotations

import html
import os
from dataclasses import asdict, dataclass

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.common.io import log, split_dir, write_json, write_text
from components.schema_gen.executor import load_schema
from components.statistics_gen.executor import load_split_stats

ANOMALIES_FILE = "SchemaDiff.pb"


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
        lines = [f"  [{a.split}] feature '{a.feature}': {', '.join(a.types)}: {a.description}"
                 for a in anomalies]
        super().__init__(f"data validation failed with {len(anomalies)} blocking anomal"
                         f"{'y' if len(anomalies) == 1 else 'ies'}:\n" + "\n".join(lines))


def _anomaly_types(info: anomalies_pb2.AnomalyInfo) -> list[str]:
    names = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
    return names or ["UNKNOWN_TYPE"]


def collect(anomalies_by_split: dict[str, anomalies_pb2.Anomalies], warn_only: list[str]) -> list[Anomaly]:
    found = []
    for split, anomalies in anomalies_by_split.items():
        for feature, info in sorted(anomalies.anomaly_info.items()):
            types = _anomaly_types(info)
            description = "; ".join(r.description for r in info.reason) or info.description
            found.append(Anomaly(split, feature, types, description,
                                 blocking=not set(types) <= set(warn_only)))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            types = _anomaly_types(info)
            found.append(Anomaly(split, "(dataset)", types, info.description,
                                 blocking=not set(types) <= set(warn_only)))
    return found


def to_markdown(found: list[Anomaly], splits: list[str]) -> str:
    if not found:
        return f"# Data validation\n\nNo anomalies in splits {', '.join(splits)}.\n"
    rows = "\n".join(f"| {a.split} | `{a.feature}` | {', '.join(a.types)} | "
                     f"{a.description.replace('|', '/')} | {'yes' if a.blocking else 'no'} |" for a in found)
    blocking = sum(a.blocking for a in found)
    return (f"# Data validation\n\n{len(found)} anomalies, {blocking} blocking.\n\n"
            "| split | feature | anomaly type | description | blocking |\n|---|---|---|---|---|\n" + rows + "\n")


def to_html(found: list[Anomaly], splits: list[str]) -> str:
    if found:
        body = "".join(
            f"<tr class={'blocking' if a.blocking else 'warn'}><td>{html.escape(a.split)}</td>"
            f"<td><code>{html.escape(a.feature)}</code></td><td>{html.escape(', '.join(a.types))}</td>"
            f"<td>{html.escape(a.description)}</td><td>{'yes' if a.blocking else 'no'}</td></tr>"
            for a in found)
        table = ("<table><tr><th>split</th><th>feature</th><th>anomaly type</th><th>description</th>"
                 f"<th>blocking</th></tr>{body}</table>")
    else:
        table = f"<p>No anomalies in splits {html.escape(', '.join(splits))}.</p>"
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             "tr.blocking{background:#fde2e2}tr.warn{background:#fff6d6}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Data validation</title>"
            f"<style>{style}</style></head><body><h1>Data validation</h1>{table}</body></html>")


def run(statistics_dir: str, schema_dir: str, splits: list[str], output_dir: str,
        warn_only: list[str] | None = None, markdown_path: str | None = None,
        html_path: str | None = None) -> list[Anomaly]:
    """Validates every split; raises DataValidationError on blocking anomalies."""
    schema = load_schema(schema_dir)
    by_split = {}
    for split in splits:
        anomalies = tfdv.validate_statistics(load_split_stats(statistics_dir, split), schema)
        by_split[split] = anomalies
        os.makedirs(split_dir(output_dir, split), exist_ok=True)
        with open(os.path.join(split_dir(output_dir, split), ANOMALIES_FILE), "wb") as f:
            f.write(anomalies.SerializeToString())
    found = collect(by_split, warn_only or [])
    write_json(os.path.join(output_dir, "anomalies.json"), [asdict(a) for a in found])
    markdown = to_markdown(found, splits)
    write_text(os.path.join(output_dir, "anomalies.md"), markdown)
    if markdown_path:
        write_text(markdown_path, markdown)
    if html_path:
        write_text(html_path, to_html(found, splits))
    blocking = [a for a in found if a.blocking]
    log.info("ExampleValidator: %d anomalies (%d blocking) in splits %s", len(found), len(blocking), splits)
    if blocking:
        raise DataValidationError(blocking)
    return found
