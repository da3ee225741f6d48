"""A browsable site of evaluation reports: one page per run (the Evaluator's self-contained
HTML report, copied as is) and an index with each run's task, decision, headline metrics (the
task's, from contracts/metrics.py), baseline, checks, fairness gate and push.

Runs are read from a pipeline root, local or gs:// (tf.io.gfile): every
<run>/evaluator/report and <run>/evaluator/blessing/blessing.json found there.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
from pathlib import Path

import tensorflow as tf

from components.evaluator.report import TASK_TITLES, check_status, fmt, gate_summary, headline_metrics, task_of

_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328}table{border-collapse:collapse}"
    "td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f0f3f6}"
    ".BLESSED{color:#1a7f37;font-weight:600}.NOT_BLESSED{color:#cf222e;font-weight:600}"
    ".pass{color:#1a7f37}.FAIL,.not-passed{color:#cf222e;font-weight:600}.muted{color:#656d76}"
    "td.run{white-space:nowrap}td.muted{font-size:12px;max-width:28em}"
)


def _push_outcome(run_dir: str) -> str:
    """What the run's Pusher did: a run can fail after its Evaluator wrote a report."""
    path = os.path.join(run_dir, "pusher", "pushed_model", "push_result.json")
    if not tf.io.gfile.exists(path):
        return "run did not finish: nothing pushed"
    with tf.io.gfile.GFile(path) as f:
        result = json.load(f)
    return f"version {result['version']}" if result.get("pushed") else "not pushed"


_RUN_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{6})$")  # kfp.local's run names end so


def _when(run_name: str, blessing_path: str) -> str:
    """When the run ran, sortable: the time in its name, else the blessing's modification time."""
    m = _RUN_TIME.search(run_name)
    if m:
        return m.group(1)
    seconds = tf.io.gfile.stat(blessing_path).mtime_nsec / 1e9
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d-%H-%M-%S-%f")


def _runs(root: str) -> list[tuple[str, str, dict]]:
    """(run name, report path, blessing) for every run under `root` that has a report, newest
    first (whatever its pipeline)."""
    found = []
    for report in tf.io.gfile.glob(os.path.join(root, "*", "evaluator", "report")):
        run_dir = os.path.dirname(os.path.dirname(report))
        blessing_path = os.path.join(run_dir, "evaluator", "blessing", "blessing.json")
        if not tf.io.gfile.exists(blessing_path):
            continue
        with tf.io.gfile.GFile(blessing_path) as f:
            blessing = json.load(f)
        blessing["_pushed"] = _push_outcome(run_dir)
        name = os.path.basename(run_dir)
        found.append((_when(name, blessing_path), name, report, blessing))
    return [(name, report, blessing) for _, name, report, blessing in sorted(found, key=lambda r: r[:2], reverse=True)]


def _status(status: str) -> str:
    return f'<span class="{html.escape(status.replace(" ", "-"))}">{html.escape(status)}</span>'


def _row(name: str, blessing: dict) -> str:
    e = html.escape
    task = task_of(blessing)
    metrics = "<br>".join(f"{e(title)} {e(value)}" for title, value in headline_metrics(blessing))
    count = (blessing.get("overall_metrics") or {}).get("example_count")
    base = blessing.get("baseline")
    value, change = (check_status(blessing, k)["status"] for k in ("value", "change"))
    gate, gate_text = gate_summary(blessing)
    source = (blessing.get("data") or {}).get("source") or ""
    reasons = "; ".join(blessing.get("reasons", []))
    return (
        f'<tr data-task="{e(task)}"><td class=run><a href="runs/{e(name)}.html">{e(name)}</a></td>'
        f"<td>{e(TASK_TITLES.get(task, task))}<br><span class=muted>{e((blessing.get('label') or {}).get('name', ''))}"
        f'</span></td><td class="{e(blessing["decision"])}">{e(blessing["decision"])}</td><td>{metrics}</td>'
        f"<td>{fmt(count, 'count')}</td><td>{e(str(base['version'])) if base else 'first run'}</td>"
        f"<td>value {_status(value)}<br>change {_status(change)}</td>"
        f"<td>{_status(gate)}<br><span class=muted>{e(gate_text)}</span></td>"
        f"<td>{e(blessing['_pushed'])}</td><td class=muted>{e(reasons)}</td><td><code>{e(source)}</code></td></tr>"
    )


def build_site(root: str, output: str | Path) -> tuple[Path, int]:
    output = Path(output)
    (output / "runs").mkdir(parents=True, exist_ok=True)
    rows = []
    for name, report, blessing in _runs(root):
        tf.io.gfile.copy(report, str(output / "runs" / f"{name}.html"), overwrite=True)
        rows.append(_row(name, blessing))
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "run",
            "task",
            "decision",
            "headline metrics",
            "eval examples",
            "baseline",
            "checks",
            "fairness gate",
            "pushed",
            "why not blessed",
            "data read",
        )
    )
    body = (
        f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else "<p>No runs with an evaluation report yet.</p>"
    )
    index = output / "index.html"
    index.write_text(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Evaluation reports</title>"
        f"<style>{_STYLE}</style></head><body><h1>Evaluation reports</h1>"
        f"<p>Runs under {html.escape(root)}</p>{body}</body></html>\n"
    )
    return index, len(rows)
