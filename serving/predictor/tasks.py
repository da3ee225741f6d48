"""What the predictor answers for each task, from the `serving_raw` signature's outputs
(contracts/signatures.py):

task        signature outputs               v1 `predictions` item                v2 outputs
binary      probabilities f32 [batch]       p (positive-class probability)       probabilities FP32 [batch]
multiclass  probabilities f32 [batch, K],   {"class": argmax class,              probabilities FP32 [batch, K],
            classes string [batch, K]        "probabilities": {class: p, ...}}   classes BYTES [batch, K]
regression  predictions f32 [batch]         value                                predictions FP32 [batch]

The task is the pushed model's `model_metadata.json` "task" (or its label's), else it is read off
the outputs; either way the outputs must be the task's, or the model is not loaded.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from contracts.metrics import TASKS
from contracts.signatures import CLASSES, PREDICTIONS, PROBABILITIES

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


def _rank(spec) -> int | None:
    return spec.shape.rank if isinstance(spec, tf.TensorSpec) else None


def infer_task(outputs: dict) -> str:
    """The task a signature's outputs ({name: TensorSpec}) describe."""
    if CLASSES in outputs and _rank(outputs.get(PROBABILITIES)) == 2:
        return MULTICLASS
    if PREDICTIONS in outputs:
        return REGRESSION
    if _rank(outputs.get(PROBABILITIES)) == 1:
        return BINARY
    raise ValueError(
        f"cannot tell the task from the outputs {sorted(outputs)}: expected '{PROBABILITIES}' "
        f"[batch] (binary), '{PROBABILITIES}' + '{CLASSES}' [batch, K] (multiclass) or "
        f"'{PREDICTIONS}' [batch] (regression)"
    )


def declared_task(metadata: dict) -> str | None:
    """The task model_metadata.json names ("task", else "label.task"), or None."""
    task = metadata.get("task") or (metadata.get("label") or {}).get("task")
    if task is not None and task not in TASKS:
        raise ValueError(f"model_metadata.json names task {task!r}; known: {list(TASKS)}")
    return task


def _check(outputs: dict, task: str, name: str, rank: int, dtype: tf.DType) -> None:
    spec = outputs.get(name)
    if spec is None:
        raise ValueError(f"a {task} model's signature must return '{name}'; it returns {sorted(outputs)}")
    if _rank(spec) != rank or spec.dtype != dtype:
        want = "[batch]" if rank == 1 else "[batch, K]"
        raise ValueError(f"a {task} model's '{name}' must be {dtype.name} {want}; it is {spec.dtype.name} {spec.shape}")


class Head:
    """One task's view of the signature's outputs."""

    task: str
    names: tuple[str, ...]  # the v2 outputs, in order

    def check(self, outputs: dict) -> None:
        raise NotImplementedError

    def output_types(self) -> list[dict]:
        raise NotImplementedError

    def v1(self, outputs: dict[str, np.ndarray]) -> list:
        """The v1 `predictions` list (also what the request log records per instance)."""
        raise NotImplementedError

    def v2(self, outputs: dict[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
        """{output name: (v2 datatype, array)} in the order of `names`."""
        raise NotImplementedError

    def observed(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """Per instance, the value the prediction histogram observes."""
        raise NotImplementedError


class BinaryHead(Head):
    task, names = BINARY, (PROBABILITIES,)

    def check(self, outputs):
        _check(outputs, self.task, PROBABILITIES, 1, tf.float32)

    def output_types(self):
        return [{"name": PROBABILITIES, "datatype": "FP32", "shape": [-1]}]

    def v1(self, outputs):
        return outputs[PROBABILITIES].astype(np.float32).reshape(-1).tolist()

    def v2(self, outputs):
        return {PROBABILITIES: ("FP32", outputs[PROBABILITIES].astype(np.float32).reshape(-1))}

    def observed(self, outputs):
        return outputs[PROBABILITIES]


def _names(classes) -> list[str]:
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in classes]


class MulticlassHead(Head):
    task, names = MULTICLASS, (PROBABILITIES, CLASSES)

    def __init__(self, classes: list[str] | None = None):
        self.classes = classes or []  # set at load from the model's own `classes` output

    def check(self, outputs):
        _check(outputs, self.task, PROBABILITIES, 2, tf.float32)
        _check(outputs, self.task, CLASSES, 2, tf.string)

    def output_types(self):
        k = len(self.classes) or -1
        return [
            {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, k]},
            {"name": CLASSES, "datatype": "BYTES", "shape": [-1, k]},
        ]

    def v1(self, outputs):
        probs, classes = outputs[PROBABILITIES], outputs[CLASSES]
        best = np.argmax(probs, axis=1).tolist()
        rows = probs.tolist()  # Python floats, as float() of each float32 gives
        if len(classes) and (classes == classes[0]).all():  # the usual case: decode the names once
            names = _names(classes[0])
            return [
                {"class": names[top], "probabilities": dict(zip(names, row, strict=True))}
                for row, top in zip(rows, best, strict=True)
            ]
        out = []
        for row, row_names, top in zip(rows, classes, best, strict=True):
            names = _names(row_names)
            out.append({"class": names[top], "probabilities": dict(zip(names, row, strict=True))})
        return out

    def v2(self, outputs):
        classes = np.asarray(outputs[CLASSES], dtype=object)
        return {PROBABILITIES: ("FP32", outputs[PROBABILITIES].astype(np.float32)), CLASSES: ("BYTES", classes)}

    def observed(self, outputs):
        return outputs[PROBABILITIES].max(axis=1)

    def top_classes(self, outputs) -> list[str]:
        return [self.classes[i] if i < len(self.classes) else str(i) for i in np.argmax(outputs[PROBABILITIES], axis=1)]


class RegressionHead(Head):
    task, names = REGRESSION, (PREDICTIONS,)

    def check(self, outputs):
        _check(outputs, self.task, PREDICTIONS, 1, tf.float32)

    def output_types(self):
        return [{"name": PREDICTIONS, "datatype": "FP32", "shape": [-1]}]

    def v1(self, outputs):
        return outputs[PREDICTIONS].astype(np.float32).reshape(-1).tolist()

    def v2(self, outputs):
        return {PREDICTIONS: ("FP32", outputs[PREDICTIONS].astype(np.float32).reshape(-1))}

    def observed(self, outputs):
        return outputs[PREDICTIONS]


HEADS = {BINARY: BinaryHead, MULTICLASS: MulticlassHead, REGRESSION: RegressionHead}


def head_for(metadata: dict, outputs: dict) -> Head:
    """The task's head, checked against the signature's outputs."""
    task = declared_task(metadata) or infer_task(outputs)
    head = HEADS[task]()
    head.check(outputs)
    return head


# -- histogram buckets ------------------------------------------------------------------------
PROBABILITY_BUCKETS = tuple(i / 10 for i in range(1, 11))
# A regression model's values have no fixed range: without the training label's range, a
# symmetric 1-2.5-5 series per decade from 0.01 to 1e6 (and 0).
_POSITIVE = [round(m * 10.0**e, 6) for e in range(-2, 6) for m in (1, 2.5, 5)] + [1e6]
GENERIC_VALUE_BUCKETS = tuple([-v for v in reversed(_POSITIVE)] + [0.0] + _POSITIVE)


def _nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= raw."""
    exponent = math.floor(math.log10(raw))
    for mantissa in (1, 2, 2.5, 5, 10):
        step = mantissa * 10.0**exponent
        if step >= raw:
            return step
    return 10.0 ** (exponent + 1)


def regression_buckets(metadata: dict, target: int = 20) -> tuple[float, ...]:
    """About `target` equal buckets over the train split's label range (model_metadata.json's
    label.values.train min/max, ExampleGen's summary) widened by 10% each side; bucket edges
    at round numbers. Without that range: GENERIC_VALUE_BUCKETS."""
    train = (((metadata.get("label") or {}).get("values") or {}).get("train")) or {}
    lo, hi = train.get("min"), train.get("max")
    if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
        return GENERIC_VALUE_BUCKETS
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return GENERIC_VALUE_BUCKETS
    margin = 0.1 * (hi - lo)
    lo, hi = lo - margin, hi + margin
    step = _nice_step((hi - lo) / target)
    start = math.floor(lo / step)
    stop = math.ceil(hi / step)
    return tuple(round(i * step, 10) for i in range(start, stop + 1))
