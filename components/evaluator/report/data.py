"""The data behind the evaluation: what the run read (provenance and ExampleGen's warnings),
headline TFDV statistics per split and the ExampleValidator's anomalies."""

from __future__ import annotations

import os

import tensorflow as tf

from components.common.formatting import DASH, cell, esc, fmt
from components.common.io import read_json
from components.common.readers import load_split_stats
from contracts.artifacts import ANOMALIES_JSON, stats_path

# The project's own non-blocking data checks, as the ExampleValidator names them.
DATA_CHECKS = {
    "SCHEMA_NEW_COLUMN": "a column the schema does not know",
    "DISTINCT_VALUES_GROWTH": "many more distinct values than the baseline model's training data",
}


def data_summary(statistics_dir: str | None, anomalies_dir: str | None, splits: list[str]) -> dict:
    """Headline TFDV figures per split and the ExampleValidator's anomalies (blocking or not)."""
    summary: dict = {"splits": {}, "anomalies": []}
    if statistics_dir:
        for split in splits:
            if not tf.io.gfile.exists(stats_path(statistics_dir, split)):
                continue
            dataset = load_split_stats(statistics_dir, split).datasets[0]
            missing = []
            for feature in dataset.features:
                common = (
                    feature.num_stats.common_stats
                    if feature.HasField("num_stats")
                    else feature.string_stats.common_stats
                )
                total = common.num_non_missing + common.num_missing
                if total and common.num_missing:
                    missing.append((feature.path.step[0], common.num_missing / total))
            summary["splits"][split] = {
                "examples": int(dataset.num_examples),
                "features": len(dataset.features),
                "most_missing": sorted(missing, key=lambda m: -m[1])[:5],
            }
    if anomalies_dir and tf.io.gfile.exists(os.path.join(anomalies_dir, ANOMALIES_JSON)):
        summary["anomalies"] = read_json(os.path.join(anomalies_dir, ANOMALIES_JSON))
    return summary


def split_counts_text(data: dict) -> str:
    """'train 2,986, eval 1,014': examples per split as ExampleGen wrote them."""
    return ", ".join(f"{s} {fmt(n, 'count')}" for s, n in (data.get("split_counts") or {}).items())


def _provenance(b: dict, run: dict) -> str:
    data = b.get("data") or {}
    source = data.get("source") or run.get("data")
    if not source:
        return '<p class="muted" id="provenance">blessing.json does not say what the run read.</p>'
    files = data.get("files") or []
    shown = "".join(f"<li><code>{esc(f)}</code></li>" for f in files[:20])
    more = f"<li>… and {fmt(len(files) - 20, 'count')} more</li>" if len(files) > 20 else ""
    facts = [
        ("source", f"<code>{esc(source)}</code>"),
        (f"files ({fmt(len(files), 'count')})", f"<ul>{shown}{more}</ul>" if files else DASH),
        ("rows read", fmt(data.get("rows_read"), "count")),
        ("examples per split", esc(split_counts_text(data)) or DASH),
        ("duplicate rows", fmt(data.get("duplicate_rows"), "count")),
    ]
    return '<dl class="facts" id="provenance">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _missing_text(most_missing: list) -> str:
    return ", ".join(f"{name} {fmt(share, 'percent')}" for name, share in most_missing) or DASH


def _statistics_table(summary: dict) -> str:
    rows = "".join(
        f"<tr><td>{esc(s)}</td>{cell(v['examples'], 'count')}{cell(v['features'], 'count')}"
        f"<td>{esc(_missing_text(v['most_missing']))}</td></tr>"
        for s, v in summary.get("splits", {}).items()
    )
    if not rows:
        return ""
    return (
        '<h3>Statistics (TFDV)</h3><table id="data"><thead><tr><th>split</th><th>examples</th>'
        f"<th>features</th><th>most missing</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _anomalies_table(anomalies: list[dict]) -> str:
    if not anomalies:
        return '<p id="anomalies">No data anomalies against the schema, and no warnings from the data checks.</p>'
    body = "".join(
        f'<tr class="{"fail" if a["blocking"] else "skip"}" data-type="{esc(",".join(a["types"]))}">'
        f"<td>{esc(a['split'])}</td><td><code>{esc(a['feature'])}</code></td>"
        f"<td>{esc(', '.join(a['types']))}</td><td>{esc(a['description'])}"
        + "".join(f'<br><span class="ci">{esc(DATA_CHECKS[t])}</span>' for t in a["types"] if t in DATA_CHECKS)
        + f"</td><td>{'blocking' if a['blocking'] else 'warning'}</td></tr>"
        for a in anomalies
    )
    warn = sum(1 for a in anomalies if not a["blocking"])
    return (
        f"<h3>Anomalies ({fmt(len(anomalies), 'count')}: {fmt(warn, 'count')} warning(s), "
        f'{fmt(len(anomalies) - warn, "count")} blocking)</h3><table id="anomalies"><thead><tr>'
        "<th>split</th><th>feature</th><th>type</th><th>description</th><th>kind</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def data_section(b: dict, run: dict, summary: dict | None) -> str:
    out = [f"<h3>What the run read</h3>{_provenance(b, run)}"]
    warnings = (b.get("data") or {}).get("warnings") or []
    if warnings:
        out.append(
            '<h3>ExampleGen warnings</h3><ul class="warn" id="data-warnings">'
            + "".join(f"<li>{esc(w)}</li>" for w in warnings)
            + "</ul>"
        )
    else:
        out.append('<p class="muted" id="data-warnings">ExampleGen reported no warnings.</p>')
    if not summary:
        out.append('<p class="muted">No statistics or anomalies were given to the Evaluator.</p>')
        return "".join(out)
    return "".join(out) + _statistics_table(summary) + _anomalies_table(summary.get("anomalies") or [])
