"""The label: checked against the data's columns, read from each batch and encoded for the task
(binary 0/1, multiclass the class index, regression the number), summarised per split."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.io import log
from components.example_gen.read import Problem
from components.example_gen.values import BYTES, INT, InputDataError, canonical, numeric
from contracts.config import LabelSpec, PipelineConfig

# The order of the label checks on the rows of a chunk (a Problem's rank).
_NUMERATOR, _DENOMINATOR, _LABEL, _GIVEN = range(4)


@dataclass(frozen=True)
class At:
    """Where a batch's rows are: a problem names the file and the data row (1-based)."""

    part: int
    file: int
    row: int  # the batch's first row, 0-based, in its file
    path: str

    def problem(self, rank: int, i: int, message: str) -> Problem:
        return Problem.at(self.part, self.file, self.row + i, rank, f"{self.path}: {message}")


@dataclass
class LabelValues:
    values: np.ndarray  # the encoded label (0/1, class index, number); NaN/-1 where unusable
    missing: np.ndarray  # no label value (dropped, or an error with label.missing: error)
    undefined: np.ndarray  # ratio labels: the ratio is undefined (label 0 or dropped, per policy)
    text: pa.Array | None  # the label's value as text (multiclass: the class); None: derived


def positive_texts(spec: LabelSpec, kind: str) -> set[str]:
    """label.positive as the label column's text: a value the column cannot hold is an error
    (a positive that can never match would label every row negative)."""
    found = set()
    for value in spec.positive:
        if isinstance(value, bool):  # YAML true: a text column says "true"/"True", a number column 1
            found |= {"1"} if kind != BYTES else {"true", "True", "TRUE"}
            continue
        try:
            if kind == INT and float(value) != int(float(value)):
                raise ValueError
            found.add(canonical(value, kind))
        except (TypeError, ValueError):
            raise InputDataError(
                f"label.positive: {value!r} cannot be a value of the {kind} column '{spec.name}'"
            ) from None
    return found


def _numbers(column: pa.Array, what: str, at: At, rank: int, problems: list[Problem]) -> np.ndarray:
    numbers, bad = numeric(column)
    if bad is not None:
        message = f"{what} holds non-numeric value {column[bad].as_py()!r} (data row {at.row + bad + 1})"
        problems.append(at.problem(rank, bad, message))
    return numbers


def read_label(
    columns: dict[str, pa.Array],
    text: pa.Array | None,
    spec: LabelSpec,
    at: At,
    classes: list[str],
    kind: str,
    given: bool = False,
) -> tuple[LabelValues, list[Problem]]:
    """The label of each row of a batch, encoded for the task, and the problems found (a value
    that is not a number where one is needed). `text`: the label column's canonical text;
    `given`: the batch holds the label under label.name as the world gave it (extra data), a
    derived label as 0/1."""
    n = len(next(iter(columns.values())))
    none = np.zeros(n, dtype=bool)
    problems: list[Problem] = []
    if spec.ratio and given:
        return _given_ratio_label(columns[spec.name], text, spec, at, problems), problems
    if spec.ratio:
        r = spec.ratio
        num = _numbers(columns[r.numerator], f"label.ratio.numerator column '{r.numerator}'", at, _NUMERATOR, problems)
        den = _numbers(
            columns[r.denominator], f"label.ratio.denominator column '{r.denominator}'", at, _DENOMINATOR, problems
        )
        with np.errstate(invalid="ignore"):
            undefined = np.isnan(den) | (den <= 0) | np.isnan(num)
            label = ((num > r.min_ratio * den) & ~undefined).astype(np.int64)
        return LabelValues(label, none, undefined, None), problems
    missing = pc.equal(text, "").to_numpy(zero_copy_only=False)
    if spec.task == "regression" or spec.positive_above is not None:
        numbers = _numbers(columns[spec.name], f"label column '{spec.name}'", at, _LABEL, problems)
        if spec.task == "regression":
            return LabelValues(numbers, missing, none, text), problems
        with np.errstate(invalid="ignore"):
            return LabelValues((numbers > spec.positive_above).astype(np.int64), missing, none, text), problems
    if spec.task == "binary":
        positive = pa.array(sorted(positive_texts(spec, kind)), pa.string())
        values = pc.is_in(text, value_set=positive).to_numpy(zero_copy_only=False).astype(np.int64)
        return LabelValues(values, missing, none, text), problems
    ids = pc.fill_null(pc.index_in(text, value_set=pa.array(classes, pa.string())), -1)
    return LabelValues(ids.to_numpy(zero_copy_only=False).astype(np.int64), missing, none, text), problems


def _given_ratio_label(column: pa.Array, text: pa.Array, spec: LabelSpec, at: At, problems: list) -> LabelValues:
    numbers = _numbers(column, f"label column '{spec.name}'", at, _LABEL, problems)
    missing = np.isnan(numbers)
    bad = np.flatnonzero(~missing & (numbers != 0) & (numbers != 1))
    if len(bad):
        i = int(bad[0])
        problems.append(
            at.problem(
                _GIVEN,
                i,
                f"label column '{spec.name}' holds {column[i].as_py()!r} (data row {at.row + i + 1}); "
                "a derived label (label.ratio) is given as 0 or 1 in extra data",
            )
        )
    values = np.where(missing, 0, numbers).astype(np.int64)
    return LabelValues(values, missing, np.zeros(len(numbers), dtype=bool), text)


# ------------------------------------------------------------------------------------ checks


def check_columns(config: PipelineConfig, column_types: dict[str, str], where: str) -> None:
    """Label and key columns against the data's header, before anything is written."""
    columns = list(column_types)
    spec = config.label
    if spec.ratio:
        if spec.name in column_types:
            raise InputDataError(
                f"{where}: label.name '{spec.name}' is already a column; a ratio label is "
                "added under a new name: choose another"
            )
        for role in ("numerator", "denominator"):
            col = getattr(spec.ratio, role)
            if col not in column_types:
                raise InputDataError(f"{where}: label.ratio.{role} column '{col}' is missing; columns are {columns}")
    elif spec.name not in column_types:
        raise InputDataError(
            f"{where}: label column '{spec.name}' (label.name) is not in the data; columns are {columns}"
        )
    elif column_types[spec.name] == BYTES and (spec.task == "regression" or spec.positive_above is not None):
        what = "a regression label" if spec.task == "regression" else "label.positive_above"
        raise InputDataError(f"{where}: label column '{spec.name}' holds text, but {what} needs numbers")
    missing = [c for c in config.split.hash_key if c not in column_types]
    if missing:
        raise InputDataError(f"split.hash_key column(s) {missing} are not in the data; columns are {columns}")


def check_extra_columns(
    config: PipelineConfig, data_columns: list[str], extra: list[str], where: str, warn: bool = True
) -> None:
    """Extra data must hold the label as given and the features: it is appended to the data."""
    spec = config.label
    if spec.name not in extra:
        derived = " (a derived label: extra data gives it as 0/1, not its label.ratio columns)" if spec.ratio else ""
        raise InputDataError(
            f"extra data {where}: no label column '{spec.name}' (label.name){derived}; its columns are {extra}. "
            "Extra data is labelled rows: the features and the label (RequestWindow's labelled.csv)"
        )
    features = [f for f in config.feature_names if f in data_columns and f not in extra]
    if features:
        raise InputDataError(
            f"extra data {where}: feature column(s) {features} of the config are missing; its columns are {extra}"
        )
    keys = [c for c in config.split.hash_key if c not in extra]
    if keys:
        raise InputDataError(
            f"extra data {where}: split.hash_key column(s) {keys} are missing, so its rows cannot be split as "
            f"the data's are; its columns are {extra}"
        )
    ignored = [c for c in extra if c not in data_columns and c != spec.name]
    if ignored and warn:
        log.warning("ExampleGen: extra data %s: column(s) %s are not in the data, left out", where, ignored)


# ------------------------------------------------------------------------------------ summary


def label_summary(spec: LabelSpec, counts: dict[str, Counter], values: dict[str, dict], classes: list[str]) -> dict:
    summary: dict = {"name": spec.name, "task": spec.task, "unit": spec.unit}
    if spec.task == "regression":
        summary["values"] = values
        return summary
    names = ["0", "1"] if spec.task == "binary" else classes
    summary["classes"] = names if spec.task == "multiclass" else ["negative", "positive"]
    summary["class_counts"] = {
        s: {summary["classes"][i]: int(c.get(i, 0)) for i in range(len(names))} for s, c in counts.items()
    }
    return summary


def check_label(spec: LabelSpec, label: dict, seen_values: list[tuple[str, int]], source: str) -> None:
    """One class in train (or a constant regression label) trains nothing useful: fail here.
    seen_values: the label's values with their counts, most common first."""
    where = f"label '{spec.name}'" if not spec.ratio else f"label '{spec.name}' (from label.ratio)"
    if spec.task == "regression":
        train = label["values"]["train"]
        if train["count"] and train["min"] == train["max"]:
            raise InputDataError(
                f"{source}: {where} has one value ({train['min']:g}) in all {train['count']} "
                "train rows: nothing to learn"
            )
        return
    counts = label["class_counts"]["train"]
    present = {k: v for k, v in counts.items() if v}
    if len(present) < 2:
        seen = ", ".join(f"{v!r} ({n})" for v, n in seen_values[:5]) or "none"
        hint = ""
        if spec.positive is not None:
            hint = f"; label.positive is {spec.positive}, the column's most common values are {seen}"
        raise InputDataError(
            f"{source}: {where} has only one class in the train split: class counts {counts}"
            f"{hint}. A classifier needs examples of every class"
        )
