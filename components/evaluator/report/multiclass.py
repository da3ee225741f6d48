"""Multiclass classification: one-vs-rest metrics per class with macro and micro averages, the
examples per class, the confusion matrix and the rates per group and class (HTML section and
Markdown tables)."""

from __future__ import annotations

from components.common.formatting import cell, esc, fmt, md
from components.evaluator.report.group_charts import rate_charts
from components.evaluator.report.label import class_counts_table, classes, eval_class_counts
from contracts.metrics import FAIRNESS_PREFIX, per_class_key

# Per class and as macro/micro averages.
_AVERAGED = ("precision", "recall", "auc")


def _confusion_matrix(b: dict) -> tuple[list[str], list[list[int]]] | None:
    """(classes, rows of counts: actual by predicted), or None when blessing.json has none that fits."""
    names, matrix = classes(b), b.get("confusion_matrix") or []
    return (names, matrix) if matrix and len(matrix) == len(names) else None


def confusion_matrix_html(b: dict) -> str:
    found = _confusion_matrix(b)
    if not found:
        return '<p class="muted" id="confusion-matrix">No confusion matrix in blessing.json.</p>'
    names, matrix = found
    head = "<th>actual \\ predicted</th>" + "".join(f"<th>{esc(c)}</th>" for c in names) + "<th>total</th>"
    rows = []
    for i, (cls, row) in enumerate(zip(names, matrix, strict=True)):
        total = sum(row)
        cells = []
        for j, count in enumerate(row):
            share = count / total if total else 0.0
            color = "26,127,55" if i == j else "207,34,46"
            cells.append(
                f'<td class="cm{" diag" if i == j else ""}" data-count="{count}" data-v="{count}" '
                f'style="background:rgba({color},{0.06 + 0.4 * share:.3f})">{fmt(count, "count")}'
                f'<br><span class="ci">{fmt(share if total else None, "percent")}</span></td>'
            )
        rows.append(f"<tr><td>{esc(cls)}</td>{''.join(cells)}{cell(total, 'count')}</tr>")
    columns = [sum(r[j] for r in matrix) for j in range(len(names))]
    rows.append(
        '<tr class="agg"><td>total</td>'
        + "".join(cell(c, "count") for c in columns)
        + cell(sum(columns), "count")
        + "</tr>"
    )
    return (
        f'<table id="confusion-matrix"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="muted">Rows: the actual class; columns: the predicted class (the most probable one); '
        "the share is of the row (green: right, red: wrong).</p>"
    )


def multiclass_section(b: dict, threshold: str) -> str:
    overall = b["overall_metrics"]
    eval_counts = eval_class_counts(b)
    cols = [
        ("precision", "precision"),
        ("recall", "recall"),
        ("auc", "AUC"),
        (f"{FAIRNESS_PREFIX}false_negative_rate@{threshold}", f"FNR@{threshold}"),
        (f"{FAIRNESS_PREFIX}false_positive_rate@{threshold}", f"FPR@{threshold}"),
    ]
    head = "<th>class</th><th>eval examples</th>" + "".join(f"<th>{t}</th>" for _, t in cols)
    rows = [
        f'<tr data-class="{esc(c)}"><td>{esc(c)}</td>{cell(eval_counts.get(c), "count")}'
        + "".join(cell(overall.get(per_class_key(k, c))) for k, _ in cols)
        + "</tr>"
        for c in classes(b)
    ]
    for agg in ("macro", "micro"):
        rows.append(
            f'<tr class="agg" data-class="{agg}"><td>{agg} average</td><td></td>'
            + "".join(cell(overall.get(f"{agg}_{k}")) if k in _AVERAGED else "<td></td>" for k, _ in cols)
            + "</tr>"
        )
    table = (
        f'<table id="per-class"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="muted">One-vs-rest per class at decision threshold {threshold}; macro averages weigh '
        "every class equally, micro averages every example. Accuracy (top-1): "
        f"{fmt(overall.get('accuracy'))}.</p>"
    )
    return (
        f'<section id="task-multiclass"><h2>Multiclass classification</h2><h3>Per class</h3>{table}'
        f"{class_counts_table(b)}<h3>Confusion matrix (eval split)</h3>{confusion_matrix_html(b)}"
        f"<h3>Fairness: rates per group and class</h3>{rate_charts(b)}</section>"
    )


def multiclass_markdown(b: dict) -> list[str]:
    """Per-class metrics with the averages, then the confusion matrix."""
    overall, counts = b["overall_metrics"], eval_class_counts(b)
    lines = ["| class | eval examples | precision | recall | AUC |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {md(c)} | {fmt(counts.get(c), 'count')} | "
        + " | ".join(fmt(overall.get(per_class_key(k, c))) for k in _AVERAGED)
        + " |"
        for c in classes(b)
    ]
    lines += [
        f"| {agg} average | | " + " | ".join(fmt(overall.get(f"{agg}_{k}")) for k in _AVERAGED) + " |"
        for agg in ("macro", "micro")
    ]
    found = _confusion_matrix(b)
    if found:
        names, matrix = found
        lines += [
            "",
            "Confusion matrix (rows actual, columns predicted):",
            "",
            "| actual \\ predicted | " + " | ".join(md(c) for c in names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        lines += [
            f"| {md(c)} | " + " | ".join(fmt(v, "count") for v in row) + " |"
            for c, row in zip(names, matrix, strict=True)
        ]
    return lines
