"""A browsable site of evaluation reports: one page per run (the Evaluator's self-contained
HTML report, copied as is) and an index with each run's decision and headline metrics.

Runs are read from a pipeline root, local or gs:// (tf.io.gfile): every
<run>/evaluator/report and <run>/evaluator/blessing/blessing.json found there.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import tensorflow as tf

_STYLE = ("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328}table{border-collapse:collapse}"
          "td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:left}th{background:#f0f3f6}"
          ".BLESSED{color:#1a7f37;font-weight:600}.NOT_BLESSED{color:#cf222e;font-weight:600}")


def _push_outcome(run_dir: str) -> str:
    """What the run's Pusher did: a run can fail after its Evaluator wrote a report."""
    path = os.path.join(run_dir, "pusher", "pushed_model", "push_result.json")
    if not tf.io.gfile.exists(path):
        return "run did not finish: nothing pushed"
    with tf.io.gfile.GFile(path) as f:
        result = json.load(f)
    return f"version {result['version']}" if result.get("pushed") else "not pushed"


def _runs(root: str) -> list[tuple[str, str, dict]]:
    """(run name, report path, blessing) for every run under `root` that has a report, newest first."""
    found = []
    for report in tf.io.gfile.glob(os.path.join(root, "*", "evaluator", "report")):
        run_dir = os.path.dirname(os.path.dirname(report))
        blessing_path = os.path.join(run_dir, "evaluator", "blessing", "blessing.json")
        if not tf.io.gfile.exists(blessing_path):
            continue
        with tf.io.gfile.GFile(blessing_path) as f:
            blessing = json.load(f)
        blessing["_pushed"] = _push_outcome(run_dir)
        found.append((os.path.basename(run_dir), report, blessing))
    return sorted(found, key=lambda r: r[0], reverse=True)


def build_site(root: str, output: str | Path) -> tuple[Path, int]:
    output = Path(output)
    (output / "runs").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, report, blessing in _runs(root):
        tf.io.gfile.copy(report, str(output / "runs" / f"{name}.html"), overwrite=True)
        m = blessing.get("overall_metrics", {})
        base = blessing.get("baseline")
        gate = blessing.get("fairness_check") or {}
        fmt = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
        rows.append(
            f'<tr><td><a href="runs/{html.escape(name)}.html">{html.escape(name)}</a></td>'
            f'<td class="{blessing["decision"]}">{blessing["decision"]}</td><td>{fmt(m.get("auc"))}</td>'
            f'<td>{fmt(m.get("binary_accuracy"))}</td><td>{int(m.get("example_count") or 0):,}</td>'
            f'<td>{html.escape(str(base["version"])) if base else "first run"}</td>'
            f'<td>{fmt(gate.get("gap"))}</td><td>{html.escape(blessing["_pushed"])}</td>'
            f'<td>{html.escape("; ".join(blessing.get("reasons", [])))}</td></tr>')
    body = ("<table id=\"runs\"><thead><tr><th>run</th><th>decision</th><th>AUC</th><th>accuracy</th>"
            "<th>eval examples</th><th>baseline</th><th>fairness gap</th><th>pushed</th><th>why not blessed</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>" if rows else "<p>No runs with an evaluation report yet.</p>")
    index = output / "index.html"
    index.write_text(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Evaluation reports</title>"
                     f"<style>{_STYLE}</style></head><body><h1>Evaluation reports</h1>"
                     f"<p>Runs under {html.escape(root)}</p>{body}</body></html>\n")
    return index, len(rows)
