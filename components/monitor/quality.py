"""Live quality: the task's main metric on a window's labelled rows, against the served
version's evaluation (model_metadata.json "metrics", the Evaluator's overall metrics).

Main metric per task, as the canary analysis judges it: binary AUC, multiclass accuracy,
regression MAE. Labels arrive as the world knows them (labels file, joined by RequestWindow):
binary by label.positive / positive_above (a ratio label: already 0/1), multiclass the class
name (or its index in the model's classes), regression the number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from contracts.config import LabelSpec
from contracts.metrics import known_metrics

MAIN_METRIC = {"binary": "AUC", "multiclass": "Accuracy", "regression": "MeanAbsoluteError"}


def _text(value) -> str:
    if isinstance(value, (int, float, np.number)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _binary(labels: pd.Series, spec: LabelSpec) -> pd.Series:
    if spec.positive_above is not None:
        return (pd.to_numeric(labels, errors="coerce") > spec.positive_above).astype(int)
    if spec.positive is not None:
        return labels.map(_text).isin({_text(v) for v in spec.positive}).astype(int)
    return pd.to_numeric(labels, errors="coerce").astype(int)  # a derived (ratio) label: 0/1 already


def _classes(labels: pd.Series, classes: list[str]) -> pd.Series:
    text = labels.map(_text)
    known = set(classes)
    return text.map(lambda t: classes[int(t)] if t not in known and t.isdigit() and int(t) < len(classes) else t)


def measure(spec: LabelSpec, labels: pd.Series, predictions: pd.Series, classes: list[str]) -> dict[str, float]:
    """Reported metric name -> value on these rows; a metric that cannot be computed is left out."""
    if spec.task == "binary":
        y, p = _binary(labels, spec).to_numpy(), pd.to_numeric(predictions, errors="coerce").to_numpy()
        found = {"binary_accuracy": float(np.mean((p >= 0.5) == y))}
        if len(set(y)) == 2:  # AUC needs both classes
            found["auc"] = float(roc_auc_score(y, p))
        return found
    if spec.task == "multiclass":
        return {"accuracy": float(np.mean(_classes(labels, classes).to_numpy() == predictions.map(_text).to_numpy()))}
    error = pd.to_numeric(predictions, errors="coerce").to_numpy() - pd.to_numeric(labels, errors="coerce").to_numpy()
    return {
        "mean_absolute_error": float(np.mean(np.abs(error))),
        "root_mean_squared_error": float(np.sqrt(np.mean(error**2))),
    }


def judge(
    spec: LabelSpec, labels: pd.Series, predictions: pd.Series, metadata: dict, drop: float, min_rows: int
) -> dict:
    """{metric, live, evaluated, limit, rows, dropped, note}: dropped only when it could be judged."""
    definition = known_metrics(spec.task)[MAIN_METRIC[spec.task]]
    name = definition.reported
    found = {"metric": name, "rows": int(len(labels)), "dropped": False, "live": None, "evaluated": None}
    if len(labels) < min_rows:
        return found | {"note": f"{len(labels):,} labelled rows; at least {min_rows:,} are needed to judge quality"}
    classes = (metadata.get("label") or {}).get("classes") or spec.classes
    live = measure(spec, labels, predictions, classes)
    found["all"] = live
    evaluated = (metadata.get("metrics") or {}).get(name)
    if name not in live:
        return found | {"note": f"{name} cannot be computed on these rows (one class only)"}
    found["live"] = live[name]
    if not isinstance(evaluated, (int, float)):
        return found | {"note": f"the served version's metadata has no evaluated {name} to compare with"}
    higher = definition.higher_is_better
    limit = evaluated * (1 - drop) if higher else evaluated * (1 + drop)
    dropped = live[name] < limit if higher else live[name] > limit
    return found | {"evaluated": evaluated, "limit": limit, "dropped": bool(dropped), "higher_is_better": higher}
