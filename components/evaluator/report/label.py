"""What blessing.json says about the task and its label: the task, the label's units, its
classes and how many examples each split has per class."""

from __future__ import annotations

from components.common.formatting import cell, esc, fmt

TASK_TITLES = {"binary": "binary classification", "multiclass": "multiclass classification", "regression": "regression"}


def task_of(b: dict) -> str:
    return b.get("task") or (b.get("label") or {}).get("task") or "binary"


def label_unit(b: dict) -> str:
    """The label's units, as the report names them (the label's own name unless one is given)."""
    label = b.get("label") or {}
    return label.get("unit") or label.get("name") or "label units"


def classes(b: dict) -> list[str]:
    return list((b.get("label") or {}).get("classes") or [])


def eval_class_counts(b: dict) -> dict:
    return ((b.get("label") or {}).get("class_counts") or {}).get("eval", {})


def class_counts_table(b: dict) -> str:
    """Examples per class in each split (classification), with each class's share."""
    label = b.get("label") or {}
    counts = label.get("class_counts") or {}
    names = classes(b)
    if not counts or not names:
        return ""
    head = "<th>split</th><th>examples</th>" + "".join(f"<th>{esc(c)}</th>" for c in names)
    rows = []
    for split, by_class in counts.items():
        total = sum(by_class.values())
        rows.append(
            f"<tr><td>{esc(split)}</td>{cell(total, 'count')}"
            + "".join(
                f'<td data-v="{by_class.get(c, 0)}">{fmt(by_class.get(c, 0), "count")} '
                f"<span class=ci>({fmt(by_class.get(c, 0) / total if total else None, 'percent')})</span></td>"
                for c in names
            )
            + "</tr>"
        )
    return (
        f'<h3>Label {esc(label.get("name", ""))}: examples per class</h3><table id="class-counts">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
