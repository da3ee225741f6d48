"""The HTML page: the decision card and the common frame, the task's section, the slices and
the data, in one self-contained file (inline CSS, inline SVG, a few lines of inline JS)."""

from __future__ import annotations

from components.common.formatting import esc
from components.evaluator.report.binary import binary_section
from components.evaluator.report.data import data_section
from components.evaluator.report.decision import NOT_APPLIED, baseline_note, headline
from components.evaluator.report.frame import applied_list, checks_table, overall_table
from components.evaluator.report.label import TASK_TITLES, task_of
from components.evaluator.report.metric_names import slice_threshold
from components.evaluator.report.multiclass import multiclass_section
from components.evaluator.report.regression import regression_section
from components.evaluator.report.slices import slice_tables

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px;margin:12px 0}
.badge{display:inline-block;padding:4px 12px;border-radius:14px;font-weight:600;color:#fff}
.BLESSED{background:#1a7f37}.NOT_BLESSED{background:#cf222e}
.status{display:inline-block;min-width:92px;font-weight:600}.s-pass{color:#1a7f37}.s-fail{color:#cf222e}
.s-skip{color:#656d76}
table{border-collapse:collapse;width:100%;background:#fff}.wide{overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f3f6}table.sortable th{cursor:pointer;user-select:none}
td:first-child,th:first-child{text-align:left;white-space:normal}
tr.fail td{background:#ffebe9}tr.pass td:last-child{color:#1a7f37}tr.fail td:last-child{color:#cf222e;font-weight:600}
tr.skip td{color:#656d76}#checks td{white-space:normal}tr.agg td{font-weight:600;background:#f6f8fa}
td.cm{text-align:center;min-width:64px}td.diag{outline:2px solid #1a7f37;outline-offset:-2px}
.muted{color:#656d76}.ci{color:#656d76;font-size:12px}ul.warn li{color:#9a6700}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dl.facts dt{color:#656d76}
dl.facts dd{margin:0;word-break:break-all}
"""

# Click a header to sort its table; marks the page ready (the browser test waits for it).
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent;
        var y = b.cells[col].dataset.v || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  });
});
document.body.dataset.ready = 'true';
"""


def _task_section(b: dict, task: str, threshold: str) -> str:
    if task == "binary":
        return binary_section(b)
    if task == "multiclass":
        return multiclass_section(b, threshold)
    if task == "regression":
        return regression_section(b)
    return ""


def render_html(b: dict, run: dict, summary: dict | None = None) -> str:
    task, decision = task_of(b), b["decision"]
    label = b.get("label") or {}
    reasons = "".join(f"<li>{esc(r)}</li>" for r in b.get("reasons", []))
    # The note on change thresholds is in the list of checks already.
    notes = "".join(f"<li>{esc(n)}</li>" for n in b.get("notes", []) if NOT_APPLIED not in n)
    baseline = b.get("baseline")
    vs = f"against baseline version {esc(baseline['version'])}" if baseline else esc(baseline_note(b))
    threshold = slice_threshold(b)
    facts = dict(run) | {
        "task": TASK_TITLES.get(task, task),
        "label": label.get("name"),
        "data": (b.get("data") or {}).get("source") or run.get("data"),
    }
    facts_html = "".join(f'<span class="muted">{esc(k)}:</span> {esc(v)} &nbsp; ' for k, v in facts.items() if v)
    slice_title = (
        "Slices: errors by group" if task == "regression" else f"Slices (rates at decision threshold {threshold})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation: {esc(run.get("model", ""))} {decision}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body data-task="{esc(task)}"><main>
<h1>Evaluation of {esc(run.get("model", "the model"))}</h1>
<div class="muted" id="facts">{facts_html}</div>
<div class="card"><span class="badge {decision}" id="decision">{decision}</span> &nbsp; <span id="baseline">{vs}</span>
<p id="headline">{esc(headline(b))}</p>{applied_list(b)}
{f'<h3>Why not blessed</h3><ul id="reasons">{reasons}</ul>' if reasons else ""}
{f'<ul class="muted" id="notes">{notes}</ul>' if notes else ""}</div>
<h2>Checks</h2>{checks_table(b)}
<h2>Overall metrics</h2>{overall_table(b)}
{_task_section(b, task, threshold)}
<h2>{esc(slice_title)}</h2>{slice_tables(b, threshold)}
<h2>Data</h2>{data_section(b, run, summary)}
</main><script>{_SCRIPT}</script></body></html>
"""
