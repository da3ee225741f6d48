"""The parts of the page every task shares above its own section: the checks applied (a list
in the decision card and a table with the gate's groups) and the overall metrics against the
baseline."""

from __future__ import annotations

from components.common.formatting import DASH, cell, change, esc, fmt
from components.evaluator.report.decision import (
    applied_checks,
    baseline_note,
    bounds_text,
    change_limit,
    gate_detail,
    gate_measured,
    gate_status,
    passed_text,
    rule_text,
)
from components.evaluator.report.label import label_unit, task_of
from components.evaluator.report.metric_names import config_metric, metric_kind, metric_title, task_metrics
from components.evaluator.report.slices import group_order

_STATUS_CLASS = {"pass": "s-pass", "FAIL": "s-fail", "not passed": "s-fail"}


def applied_list(b: dict) -> str:
    items = "".join(
        f'<li data-check="{c["id"]}" data-status="{esc(c["status"])}"><span class="status '
        f'{_STATUS_CLASS.get(c["status"], "s-skip")}">{esc(c["status"])}</span> <b>{esc(c["name"])}</b>'
        f"{esc(rule_text(c))} — {esc(c['detail'])}</li>"
        for c in applied_checks(b)
    )
    return f'<ul id="applied-checks">{items}</ul>'


def _row_class(passed) -> str:
    return "pass" if passed else "fail"


def checks_table(b: dict) -> str:
    """One row per check (each value threshold, each change threshold, the gate), then the gate's groups."""
    task, unit = task_of(b), label_unit(b)
    rows = []
    for c in b.get("checks") or []:
        title, kind = config_metric(task, c["metric"])
        limit = bounds_text(c["lower_bound"], c["upper_bound"], kind, unit)
        result = passed_text(c["passed"])
        rows.append((_row_class(c["passed"]), f"value: {title}", fmt(c["value"], kind), limit, result))
    baseline = b.get("baseline")
    for c in b.get("change_checks") or []:
        title, kind = config_metric(task, c["metric"])
        rows.append(
            (
                _row_class(c["passed"]),
                f"change vs baseline version {baseline['version']}: {title}",
                f"{fmt(c['candidate'], kind)} vs {fmt(c['baseline'], kind)} ({fmt(c['change'], kind, signed=True)})",
                change_limit(c, kind, unit),
                passed_text(c["passed"]),
            )
        )
    if not baseline:
        rows.append(("skip", "change thresholds", DASH, baseline_note(b), "not applied"))
    gate = b.get("fairness_check")
    if gate:
        kind = metric_kind(task, gate["metric"])
        value = (
            f"gap {fmt(gate['gap'], kind)} ({gate['largest']} vs {gate['smallest']})"
            if gate_measured(gate)
            else gate_detail(gate, task, unit)
        )
        rows.append(
            (
                _row_class(gate["passed"]),
                f"fairness gate: {metric_title(task, gate['metric'])} across {gate['feature']}",
                value,
                f"gap {bounds_text(None, gate['max_gap'], kind, unit)}, groups ≥ "
                f"{fmt(gate['min_examples'], 'count')} examples",
                gate_status(gate),
            )
        )
    body = "".join(
        f'<tr class="{cls}"><td>{esc(name)}</td><td>{esc(value)}</td><td>{esc(limit)}</td><td>{result}</td></tr>'
        for cls, name, value, limit, result in rows
    )
    table = (
        '<table id="checks"><thead><tr><th>check</th><th>value</th><th>limit</th><th>result</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return table + (_gate_groups(b) if gate else "")


def _gate_groups(b: dict) -> str:
    """Every group of the gate's feature, and whether the gate counted it (or why not)."""
    gate, task = b["fairness_check"], task_of(b)
    kind = metric_kind(task, gate["metric"])
    rows = []
    for g in sorted(gate.get("groups") or [], key=lambda g: group_order(g["group"])):
        if g.get("counted"):
            why = "counted"
        elif g.get("example_count") is None:
            why = "no metrics (under min_slice_size)"
        elif g["example_count"] < gate["min_examples"]:
            why = f"not counted: fewer than {fmt(gate['min_examples'], 'count')} examples"
        else:
            why = "not counted: no value"
        rows.append(
            f'<tr class="{"" if g.get("counted") else "skip"}"><td>{esc(g["group"])}</td>'
            f"{cell(g.get('example_count'), 'count')}{cell(g.get('value'), kind)}<td>{why}</td></tr>"
        )
    return (
        f'<details><summary>The gate\'s groups ({len(rows)})</summary><table class="sortable" id="gate-groups">'
        f"<thead><tr><th>{esc(gate['feature'])}</th><th>examples</th><th>{esc(metric_title(task, gate['metric']))}"
        f"</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


def overall_table(b: dict) -> str:
    """The task's metrics on the eval split (with intervals), against the baseline when there is one."""
    task, unit = task_of(b), label_unit(b)
    base = b.get("baseline_metrics") or {}
    intervals = (b.get("intervals") or {}).get("Overall", {})
    head = "<th>metric</th><th>candidate</th>" + (
        f"<th>baseline (version {esc(b['baseline']['version'])})</th><th>change</th>" if base else ""
    )
    rows = []
    for d in task_metrics(task):
        kind = metric_kind(task, d.reported)
        cand = b["overall_metrics"].get(d.reported)
        row = (
            f'<tr data-metric="{d.reported}"><td>{esc(metric_title(task, d.reported, unit))}</td>'
            f"{cell(cand, kind, intervals.get(d.reported))}"
        )
        if base:
            old = base.get(d.reported)
            row += f"{cell(old, kind)}{cell(change(cand, old), kind, signed=True)}"
        rows.append(row + "</tr>")
    return f'<table id="overall"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
