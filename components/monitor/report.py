"""The monitor's summary for people, from monitor.json (the executor's `full` record): the
decision and why, then per-feature distance against threshold for skew, drift and prediction
drift, drifted features first, and live quality. This module writes the Markdown (the KFP
Markdown viewer) and holds what the HTML page (page.py) shares with it.

Numbers in the reports' one format (components/common/formatting.py): distances and thresholds
with four decimals, counts with thousands separators.
"""

from __future__ import annotations

from components.common.formatting import fmt, md

SECTIONS = ("skew", "drift", "prediction_drift")
HEADER = ["feature", "measure", "distance", "threshold (configured)", "rows (window / reference)", "verdict"]
RANK = {"drifted": 0, "ok": 1, "too_small": 2, "missing": 3}


def ratio(f: dict) -> float | None:
    """The distance as a multiple of its effective threshold (above 1: drifted)."""
    if f.get("distance") is None or not f.get("effective_threshold"):
        return None
    return f["distance"] / f["effective_threshold"]


def ordered(features: list[dict]) -> list[dict]:
    """Drifted first, then the nearest to their threshold; unmeasured last."""
    return sorted(features, key=lambda f: (RANK.get(f["verdict"], 4), -(ratio(f) or 0.0), f["feature"]))


def feature_order(full: dict) -> list[str]:
    """Every feature compared, the worst of its skew and drift deciding its place."""
    best: dict[str, tuple] = {}
    for name in ("skew", "drift"):
        for f in (full.get(name) or {}).get("features", []):
            key = (RANK.get(f["verdict"], 4), -(ratio(f) or 0.0))
            best[f["feature"]] = min(best.get(f["feature"], key), key)
    return sorted(best, key=lambda name: (*best[name], name))


def worst(section: dict | None) -> dict | None:
    """The feature nearest to (or furthest over) its threshold."""
    measured = [f for f in (section or {}).get("features", []) if ratio(f) is not None]
    return max(measured, key=ratio) if measured else None


def summary_metrics(full: dict) -> dict[str, float]:
    """KFP Metrics beside the per-feature distances: the decision as 0/1, the labelled rows, and
    per section measured the drifted features and the worst distance (and its multiple of the
    threshold). Names that a feature's own `skew_<feature>` cannot take."""
    found = {
        "decision_retrain": float(full["decision"] == "retrain"),
        "decision_too_small": float(full["decision"] == "too_small"),
        "labelled_rows": float(full.get("labelled_rows") or 0),
    }
    for name in SECTIONS:
        section = full.get(name)
        if not section:
            continue
        found[f"drifted_features_{name}"] = float(sum(f["verdict"] == "drifted" for f in section["features"]))
        w = worst(section)
        if w:
            found[f"worst_distance_{name}"] = w["distance"]
            found[f"worst_ratio_{name}"] = ratio(w)
    return found


def cells(f: dict) -> list[str]:
    return [
        f["feature"],
        f["measure"],
        fmt(f["distance"]),
        f"{fmt(f['effective_threshold'])} ({f['threshold']:g})",
        f"{fmt(f['rows']['current'], 'count')} / {fmt(f['rows']['reference'], 'count')}",
        f["verdict"],
    ]


def titles(full: dict) -> dict[str, str]:
    return {
        "skew": f"Skew: against the training data of version {full['model_version']}",
        "drift": "Drift: against the previous window",
        "prediction_drift": "Prediction drift: against the previous window",
    }


def quality_kind(q: dict) -> str:
    """An error metric is in the label's units; the others are rates and scores."""
    return "metric" if q.get("higher_is_better", True) else "unit"


def quality_line(q: dict) -> str:
    if q.get("live") is None:
        return q.get("note", "no labelled rows")
    kind = quality_kind(q)
    line = f"{q['metric']} {fmt(q['live'], kind)} on {fmt(q['rows'], 'count')} labelled rows"
    if q.get("evaluated") is not None:
        verdict = "DROPPED" if q["dropped"] else "ok"
        line += f"; evaluated {fmt(q['evaluated'], kind)}, limit {fmt(q['limit'], kind)}: {verdict}"
    return line


def window_line(full: dict) -> str:
    w = full["window"]
    versions = ", ".join(f"{v} ({fmt(n, 'count')} rows)" for v, n in sorted((w.get("model_versions") or {}).items()))
    return (
        f"Window {w['start']} to {w['end']}: {fmt(w['rows'], 'count')} rows "
        f"({fmt(w.get('labelled_rows') or 0, 'count')} labelled), served by version(s) {versions}."
    )


def markdown(full: dict) -> str:
    lines = [
        "# Monitoring",
        "",
        window_line(full),
        "",
        f"**Decision: {full['decision']}**",
        "",
        *[f"- {r}" for r in full["reasons"]],
        *[f"- note: {n}" for n in full["notes"]],
    ]
    for name in SECTIONS:
        section = full[name]
        lines += ["", f"## {titles(full)[name]}", ""]
        if not section:
            lines.append("Not measured (see the notes).")
            continue
        lines += [f"Decision: {section['decision']}.", "", "| " + " | ".join(HEADER) + " |", "|---" * len(HEADER) + "|"]
        lines += ["| " + " | ".join(md(c) for c in cells(f)) + " |" for f in ordered(section["features"])]
    lines += ["", "## Live quality", "", quality_line(full["quality"])]
    return "\n".join(lines) + "\n"
