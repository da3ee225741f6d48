"""A browsable site of evaluation and monitoring reports: one page per run (the Evaluator's or
the Monitor's self-contained HTML report, copied as is) and an index with a table of training
runs (task, decision, headline metrics from contracts/metrics.py, baseline, checks, fairness
gate, push) and a table of monitoring runs (window, served version, rows, decision, reasons,
worst skew and drift).

Runs are read from pipeline roots, local or gs:// (tf.io.gfile): every
<run>/evaluator/report with <run>/evaluator/blessing/blessing.json, and every
<run>/monitor/view with <run>/monitor/decision/monitor.json found there.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

from components.evaluator.report import TASK_TITLES, check_status, fmt, gate_summary, headline_metrics, task_of
from components.monitor.report import worst

_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328}table{border-collapse:collapse}"
    "td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f0f3f6}"
    ".BLESSED{color:#1a7f37;font-weight:600}.NOT_BLESSED{color:#cf222e;font-weight:600}"
    ".pass,.ok{color:#1a7f37}.retrain{color:#cf222e;font-weight:600}.too_small{color:#9a6700}"
    ".FAIL,.not-passed{color:#cf222e;font-weight:600}.muted{color:#656d76}"
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


def _runs(root: str) -> list[tuple[str, str, str, dict]]:
    """(time, run name, report path, blessing) for every run under `root` that has a report
    (whatever its pipeline)."""
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
    return found


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


# ------------------------------------------------------------------------------------ monitoring


def _monitor_runs(root: str) -> list[tuple[str, str, str, dict]]:
    """(time, run name, page path, monitor.json) for every monitoring run under `root` whose
    Monitor wrote its page; a run stopped before (bad input, a failed step) has none."""
    found = []
    for page in tf.io.gfile.glob(os.path.join(root, "*", "monitor", "view")):
        run_dir = os.path.dirname(os.path.dirname(page))
        record = os.path.join(run_dir, "monitor", "decision", "monitor.json")
        if not tf.io.gfile.exists(record):
            continue
        with tf.io.gfile.GFile(record) as f:
            full = json.load(f)
        name = os.path.basename(run_dir)
        found.append((_when(name, record), name, page, full))
    return found


def _worst(section: dict | None) -> str:
    f = worst(section)
    if not f:
        return "not measured" if not section else "nothing measured"
    sign = ">" if f["verdict"] == "drifted" else "≤"
    return f"{f['feature']} {fmt(f['distance'])} {sign} {fmt(f['effective_threshold'])}"


def _monitor_row(name: str, full: dict) -> str:
    e = html.escape
    w = full.get("window") or {}
    drifted = {k: "FAIL" if (full.get(k) or {}).get("decision") == "drifted" else "" for k in ("skew", "drift")}
    worst_cells = "".join(f'<td class="{drifted[k]}">{e(_worst(full.get(k)))}</td>' for k in drifted)
    return (
        f'<tr><td class=run><a href="monitoring/{e(name)}.html">{e(name)}</a></td>'
        f"<td>{e(str(w.get('start')))} to {e(str(w.get('end')))}</td><td>{e(str(full.get('model_version', '')))}</td>"
        f'<td>{fmt(full.get("rows"), "count")}</td><td class="{e(full["decision"])}">{e(full["decision"])}</td>'
        f"<td class=muted>{e('; '.join(full.get('reasons', [])))}</td>{worst_cells}</tr>"
    )


# ------------------------------------------------------------------------------------ the site


class Site(NamedTuple):
    index: Path
    training_runs: int
    monitoring_runs: int


def _table(table_id: str, headers: tuple[str, ...], rows: list[str], empty: str) -> str:
    if not rows:
        return f"<p>{empty}</p>"
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_TRAINING_HEAD = (
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
_MONITOR_HEAD = ("run", "window", "model version", "window rows", "decision", "reasons", "worst skew", "worst drift")


def build(roots: list[str], output: str | Path) -> Site:
    """The site of every run under `roots` (training and monitoring runs alike) in `output`."""
    output = Path(output)
    roots = list(dict.fromkeys(roots))
    (output / "runs").mkdir(parents=True, exist_ok=True)
    (output / "monitoring").mkdir(parents=True, exist_ok=True)
    rows = []
    trained = sorted((r for root in roots for r in _runs(root)), key=lambda r: r[:2], reverse=True)  # newest first
    for _, name, report, blessing in trained:
        tf.io.gfile.copy(report, str(output / "runs" / f"{name}.html"), overwrite=True)
        rows.append(_row(name, blessing))
    monitored = sorted((r for root in roots for r in _monitor_runs(root)), key=lambda r: r[:2], reverse=True)
    monitor_rows = []
    for _, name, page, full in monitored:
        tf.io.gfile.copy(page, str(output / "monitoring" / f"{name}.html"), overwrite=True)
        monitor_rows.append(_monitor_row(name, full))
    where = ", ".join(html.escape(r) for r in roots)
    index = output / "index.html"
    index.write_text(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Evaluation reports and monitoring</title>"
        f"<style>{_STYLE}</style></head><body><h1>Evaluation reports and monitoring</h1><p>Runs under {where}</p>"
        f"<h2>Training runs</h2>{_table('runs', _TRAINING_HEAD, rows, 'No runs with an evaluation report yet.')}"
        f"<h2>Monitoring runs</h2>"
        f"{_table('monitoring', _MONITOR_HEAD, monitor_rows, 'No monitoring runs with a report yet.')}</body></html>\n"
    )
    return Site(index, len(rows), len(monitor_rows))


def build_site(root: str, output: str | Path) -> tuple[Path, int]:
    """The site of the runs under one pipeline root: its index and how many training runs it lists."""
    site = build([root], output)
    return site.index, site.training_runs
