"""The monitor's summary for people: the decision and why, then per-feature distance against
threshold for skew, drift and prediction drift, and live quality (Markdown and a plain HTML
page, the KFP UI's Markdown and HTML viewers)."""

from __future__ import annotations

import html


def _number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _table(section: dict | None) -> list[list[str]]:
    if not section:
        return []
    return [
        [
            f["feature"],
            f["measure"],
            _number(f["distance"]),
            f"{f['effective_threshold']:.4f} ({f['threshold']:g})",
            f"{f['rows']['current']:,} / {f['rows']['reference']:,}",
            f["verdict"],
        ]
        for f in section["features"]
    ]


HEADER = ["feature", "measure", "distance", "threshold (configured)", "rows (window / reference)", "verdict"]


def _sections(full: dict) -> list[tuple[str, dict | None]]:
    return [
        (f"Skew: against the training data of version {full['model_version']}", full["skew"]),
        ("Drift: against the previous window", full["drift"]),
        ("Prediction drift: against the previous window", full["prediction_drift"]),
    ]


def _quality_line(q: dict) -> str:
    if q.get("live") is None:
        return q.get("note", "no labelled rows")
    line = f"{q['metric']} {q['live']:.4f} on {q['rows']:,} labelled rows"
    if q.get("evaluated") is not None:
        line += f"; evaluated {q['evaluated']:.4f}, limit {q['limit']:.4f}: {'DROPPED' if q['dropped'] else 'ok'}"
    return line


def markdown(full: dict) -> str:
    w = full["window"]
    lines = [
        "# Monitoring",
        "",
        f"Window {w['start']} to {w['end']}: {w['rows']:,} rows ({w.get('labelled_rows') or 0:,} labelled), "
        f"versions {w['model_versions']}.",
        "",
        f"**Decision: {full['decision']}**",
        "",
        *[f"- {r}" for r in full["reasons"]],
        *[f"- note: {n}" for n in full["notes"]],
    ]
    for title, section in _sections(full):
        lines += ["", f"## {title}", ""]
        if not section:
            lines.append("Not measured (see the notes).")
            continue
        lines += [f"Decision: {section['decision']}.", "", "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in _table(section)]
    lines += ["", "## Live quality", "", _quality_line(full["quality"])]
    return "\n".join(lines) + "\n"


def html_page(full: dict) -> str:
    e = html.escape
    w = full["window"]
    body = [
        f"<h1>Monitoring</h1><p>Window {e(str(w['start']))} to {e(str(w['end']))}: {w['rows']:,} rows, "
        f"versions {e(str(w['model_versions']))}.</p>",
        f"<h2 class={e(full['decision'])}>Decision: {e(full['decision'])}</h2><ul>",
        *[f"<li>{e(r)}</li>" for r in full["reasons"]],
        *[f"<li class=note>{e(n)}</li>" for n in full["notes"]],
        "</ul>",
    ]
    for title, section in _sections(full):
        body.append(f"<h2>{e(title)}</h2>")
        if not section:
            body.append("<p>Not measured (see the notes).</p>")
            continue
        rows = "".join(
            f"<tr class={e(r[-1])}>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in _table(section)
        )
        body.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADER) + f"</tr>{rows}</table>")
    body.append(f"<h2>Live quality</h2><p>{e(_quality_line(full['quality']))}</p>")
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}tr.drifted,h2.retrain{background:#fde2e2}"
        "tr.too_small,tr.missing{background:#fff6d6}li.note{color:#555}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>Monitoring</title><style>{style}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
