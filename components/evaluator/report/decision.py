"""What the Evaluator decided and why, in words: every kind of check (value thresholds, change
thresholds against a baseline, the fairness gate, TFMA's own validation), its rule and what
became of it, and the headline that names them all. The HTML frame, the Markdown summary and
the report site all word the checks from here."""

from __future__ import annotations

from components.common.formatting import fmt
from components.evaluator.report.label import label_unit, task_of
from components.evaluator.report.metric_names import config_metric, metric_kind, metric_title, task_metrics, unit_suffix

NOT_APPLIED = "change thresholds not applied"


def passed_text(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def bounds_text(lower, upper, kind: str, unit: str = "") -> str:
    suffix = unit_suffix(kind, unit)
    if lower is not None and upper is not None:
        return f"in [{fmt(lower, kind)}, {fmt(upper, kind)}]{suffix}"
    return (f"≥ {fmt(lower, kind)}" if lower is not None else f"≤ {fmt(upper, kind)}") + suffix


def change_limit(c: dict, kind: str, unit: str = "") -> str:
    sign = "≥" if c["direction"] == "higher_is_better" else "≤"
    return f"change {sign} {fmt(c['absolute'], kind, signed=True)}{unit_suffix(kind, unit)}"


def baseline_note(b: dict) -> str:
    """Why change thresholds were not applied (the Evaluator's note), or the first-run default."""
    for note in b.get("notes") or []:
        if NOT_APPLIED in note:
            return note.replace(f"; {NOT_APPLIED}", "").replace(f", {NOT_APPLIED}", "")
    return "first run: no blessed model in the registry, so there is no baseline"


def gate_measured(gate: dict) -> bool:
    return bool(gate.get("measured", True)) and gate.get("gap") is not None


def gate_status(gate: dict) -> str:
    """'pass', 'FAIL' (a gap over the limit) or 'not passed' (nothing to measure)."""
    return "pass" if gate["passed"] else ("FAIL" if gate_measured(gate) else "not passed")


def gate_rule(gate: dict, task: str, unit: str = "") -> str:
    """The gate as configured: 'false negative rate @ 0.5 gap across sex ≤ 0.2000, groups with ≥ 15 examples'."""
    kind = metric_kind(task, gate["metric"])
    return (
        f"{metric_title(task, gate['metric'])} gap across {gate['feature']} ≤ {fmt(gate['max_gap'], kind)}"
        f"{unit_suffix(kind, unit)}, over groups with ≥ {fmt(gate['min_examples'], 'count')} examples"
    )


def gate_detail(gate: dict, task: str, unit: str = "") -> str:
    """One plain sentence on what the fairness gate measured, or that it had nothing to measure."""
    metric = metric_title(task, gate["metric"])
    kind = metric_kind(task, gate["metric"])
    groups = gate.get("groups") or []
    counted = sum(1 for g in groups if g.get("counted"))
    suffix = unit_suffix(kind, unit)
    if gate_measured(gate):
        if gate["gap"] == 0:
            value = next((g.get("value") for g in groups if g["group"] == gate.get("largest")), None)
            between = f"— all {counted} counted groups have {metric} {fmt(value, kind)}{suffix}"
        else:
            between = f"between {gate['feature']}={gate['largest']} and {gate['feature']}={gate['smallest']}"
        return (
            f"gap {fmt(gate['gap'], kind)}{suffix} {between} (max {fmt(gate['max_gap'], kind)}{suffix}; {counted} of "
            f"{len(groups)} groups have ≥ {fmt(gate['min_examples'], 'count')} examples and a value)"
        )
    if not groups:
        text = f"nothing to measure: no {gate['feature']} groups in the eval data"
    else:
        text = (
            f"nothing to measure: {counted} of {len(groups)} {gate['feature']} groups "
            f"{'has' if counted == 1 else 'have'} ≥ {fmt(gate['min_examples'], 'count')} examples and a "
            f"defined {metric}; two are needed"
        )
    if gate.get("passed"):
        return text + "; passed by fairness_gate.when_unmeasurable: pass"
    return text + "; not passed, so the blessing is withheld"


def _check(check_id: str, name: str, status: str, rule: str = "", detail: str = "none configured") -> dict:
    return {"id": check_id, "name": name, "rule": rule, "detail": detail, "status": status}


def _value_check(b: dict, task: str, unit: str) -> dict:
    checks = b.get("checks") or []
    if not checks:
        return _check("value", "value thresholds", "not configured")
    rules, parts = [], []
    for c in checks:
        title, kind = config_metric(task, c["metric"])
        rules.append(f"{title} {bounds_text(c['lower_bound'], c['upper_bound'], kind, unit)}")
        parts.append(f"{title} {fmt(c['value'], kind)}, {passed_text(c['passed'])}")
    status = passed_text(all(c["passed"] for c in checks))
    return _check("value", "value thresholds", status, " and ".join(rules), "; ".join(parts))


def _change_check(b: dict, task: str, unit: str) -> dict:
    baseline = b.get("baseline")
    if not baseline:
        return _check("change", "change thresholds", "not applied", detail=f"not applied: {baseline_note(b)}")
    name = f"change thresholds vs baseline version {baseline['version']}"
    changes = b.get("change_checks") or []
    if not changes:
        return _check("change", name, "not configured")
    rules, parts = [], []
    for c in changes:
        title, kind = config_metric(task, c["metric"])
        rules.append(f"{title} {change_limit(c, kind, unit)}")
        parts.append(
            f"{title} {fmt(c['candidate'], kind)} vs {fmt(c['baseline'], kind)}: "
            f"{fmt(c['change'], kind, signed=True)}, {passed_text(c['passed'])}"
        )
    status = passed_text(all(c["passed"] for c in changes))
    return _check("change", name, status, " and ".join(rules), "; ".join(parts))


def applied_checks(b: dict) -> list[dict]:
    """Every kind of check and what became of it: {id, name, rule, detail, status}; status is
    'pass', 'FAIL', 'not passed' (a gate with nothing to measure), 'not applied' or 'not configured'."""
    task, unit = task_of(b), label_unit(b)
    out = [_value_check(b, task, unit), _change_check(b, task, unit)]
    gate = b.get("fairness_check")
    if gate:
        rule, detail = gate_rule(gate, task, unit), gate_detail(gate, task, unit)
        out.append(_check("gate", "fairness gate", gate_status(gate), rule, detail))
    else:
        out.append(_check("gate", "fairness gate", "not configured"))
    tfma = [r for r in b.get("reasons") or [] if r.startswith("TFMA's validation")]
    if tfma:
        out.append(_check("tfma", "TFMA's own validation", "FAIL", "TFMA's validation result is OK", tfma[0]))
    return out


def rule_text(check: dict) -> str:
    """': <rule>' after a check's name, when it has one."""
    return f": {check['rule']}" if check.get("rule") else ""


def headline(b: dict) -> str:
    """Names every check that was applied (with its rule and result) and those that were not."""
    applied, skipped = [], []
    for c in applied_checks(b):
        if c["status"] in ("not applied", "not configured"):
            skipped.append(f"{c['name']} ({c['detail'].removeprefix('not applied: ')})")
        elif c["status"] == "not passed":
            applied.append(f"{c['name']}: {c['rule']} — nothing to measure, not passed")
        elif "nothing to measure" in c["detail"]:
            applied.append(f"{c['name']}: {c['rule']} — nothing to measure, passed by when_unmeasurable: pass")
        else:
            applied.append(f"{c['name']}: {c['rule']} — {c['status']}")
    text = f"{b['decision']}. Checks applied: " + ("; ".join(applied) if applied else "none") + "."
    if skipped:
        text += " Not applied: " + "; ".join(skipped) + "."
    return text


def headline_metrics(b: dict, count: int = 2) -> list[tuple[str, str]]:
    """The run's headline numbers, (title, formatted value): the metrics its value thresholds
    checked, then the task's first metrics in contracts/metrics.py, `count` at least."""
    task, unit = task_of(b), label_unit(b)
    defs = {m.name: m for m in task_metrics(task)}
    chosen = [defs[c["metric"]] for c in b.get("checks") or [] if c["metric"] in defs]
    for d in task_metrics(task):
        if len(chosen) >= count:
            break
        if d.reported != "example_count" and d not in chosen:
            chosen.append(d)
    overall = b.get("overall_metrics") or {}
    return [
        (metric_title(task, d.reported, unit), fmt(overall.get(d.reported), metric_kind(task, d.reported)))
        for d in chosen
    ]


def gate_summary(b: dict) -> tuple[str, str]:
    """The fairness gate in a few words: (status, e.g. 'FNR @ 0.5 gap 0.0065 ≤ 0.3500 across area')."""
    gate = b.get("fairness_check")
    if not gate:
        return "not configured", ""
    task, unit = task_of(b), label_unit(b)
    kind = metric_kind(task, gate["metric"])
    if gate_measured(gate):
        op = "≤" if gate["gap"] <= gate["max_gap"] else ">"
        return passed_text(gate["passed"]), (
            f"{metric_title(task, gate['metric'])} gap {fmt(gate['gap'], kind)} {op} {fmt(gate['max_gap'], kind)}"
            f"{unit_suffix(kind, unit)} across {gate['feature']}"
        )
    return gate_status(gate), f"nothing to measure across {gate['feature']}"


def check_status(b: dict, check_id: str) -> dict:
    """One entry of applied_checks ('value', 'change', 'gate', 'tfma')."""
    return next((c for c in applied_checks(b) if c["id"] == check_id), {"status": "not configured", "detail": ""})
