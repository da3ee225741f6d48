"""Slices: how a slice's name splits into feature and group, the order groups sort in, and the
slice tables (one per feature or feature cross, the task's metrics per group)."""

from __future__ import annotations

from collections import defaultdict

from components.common.formatting import cell, esc, fmt, slug
from components.evaluator.report.label import classes, label_unit, task_of
from components.evaluator.report.metric_names import (
    metric_kind,
    metric_title,
    rate_abbrev,
    task_metrics,
)
from contracts.metrics import FAIRNESS_PREFIX, per_class_key


def slice_feature(name: str) -> str:
    """'payment_type=Cash' -> 'payment_type'; 'a=1 x b=2' -> 'a x b'."""
    return " x ".join(part.split("=", 1)[0] for part in name.split(" x "))


def slice_group(name: str) -> str:
    """'payment_type=Cash' -> 'Cash'; 'a=1 x b=2' -> '1 x 2'."""
    return " x ".join(part.split("=", 1)[1] if "=" in part else part for part in name.split(" x "))


def group_order(group: str):
    """Numeric groups first, in numeric order, then the rest by name."""
    try:
        return (0, float(group), "")
    except ValueError:
        return (1, 0.0, group)


def single_feature_slices(b: dict) -> dict[str, list[tuple[str, dict]]]:
    """{feature: [(group, metrics)]} of the slices on one feature (no crosses), features by name."""
    by_feature: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, metrics in (b.get("slice_metrics") or {}).items():
        if " x " not in name:
            by_feature[slice_feature(name)].append((slice_group(name), metrics))
    for rows in by_feature.values():
        rows.sort(key=lambda r: group_order(r[0]))
    return dict(sorted(by_feature.items()))


def slice_columns(b: dict, threshold: str) -> list[tuple[str, str, str]]:
    """(metric key, column title, number kind) of the slice tables, for the run's task."""
    task, unit = task_of(b), label_unit(b)
    cols = [
        (d.reported, metric_title(task, d.reported, unit), metric_kind(task, d.reported)) for d in task_metrics(task)
    ]
    if task == "binary":
        cols += [
            (f"{FAIRNESS_PREFIX}{r}@{threshold}", f"{rate_abbrev(r)}@{threshold}", "metric")
            for r in ("false_positive_rate", "false_negative_rate")
        ]
    elif task == "multiclass":
        cols += [(per_class_key("recall", c), f"recall ({c})", "metric") for c in classes(b)]
    return cols


def slice_tables(b: dict, threshold: str) -> str:
    by_feature: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for name, metrics in sorted(b.get("slice_metrics", {}).items(), key=lambda kv: group_order(slice_group(kv[0]))):
        by_feature[slice_feature(name)].append((name, metrics))
    intervals = b.get("intervals") or {}
    cols = slice_columns(b, threshold)
    out = []
    for feature, rows in by_feature.items():
        head = f"<th>{esc(feature)}</th>" + "".join(f"<th>{esc(title)}</th>" for _, title, _ in cols)
        body = "".join(
            f"<tr><td>{esc(slice_group(name))}</td>"
            + "".join(cell(m.get(key), kind, intervals.get(name, {}).get(key)) for key, _, kind in cols)
            + "</tr>"
            for name, m in rows
        )
        out.append(
            f'<h3>{esc(feature)}</h3><div class="wide"><table class="sortable slice-table" '
            f'id="slices-{slug(feature)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
        )
    suppressed = b.get("suppressed_slices") or []
    if suppressed:
        out.append(
            f'<p class="muted" id="suppressed">{fmt(len(suppressed), "count")} slice(s) below the minimum slice '
            f"size are not shown: {esc(', '.join(suppressed[:20]))}{' …' if len(suppressed) > 20 else ''}</p>"
        )
    return "".join(out) or '<p class="muted">No slices configured.</p>'
