"""The column types of each input and the checks that come before any row is written, from what
the type pass observed. The same function decides inside the pipeline (whether to write) and
after it (raising the error), so both see one answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.example_gen.labels import check_columns, check_extra_columns, positive_texts
from components.example_gen.read import Observed, Problem
from components.example_gen.values import FLOAT, INT, InputDataError, column_types_of
from contracts.config import PipelineConfig


@dataclass(frozen=True)
class Plan:
    # Per part (data, then extra data): the columns as read (extra data: those the data has, and
    # the label as given) with their types; rows are hashed from them.
    types: list[dict[str, str]] = field(default_factory=list)
    column_types: dict[str, str] = field(default_factory=dict)  # as written: the data's, and the label's
    error: str = ""  # the run fails with this; nothing is written


def build_plan(config: PipelineConfig, observed: list[Observed], first_files: list[str], warn: bool = True) -> Plan:
    """One type inference over the data and the extra data together, so a column has one type;
    the extra data's label typed on its own where the data has no such column (a derived
    label). Raises InputDataError for the first problem of the input, then for the checks."""
    problems = [o.problem for o in observed if o.problem]
    if problems:
        raise InputDataError(min(problems).message)
    for o, first in zip(observed, first_files, strict=True):
        if o.header is None:
            raise InputDataError(f"{first}: no rows")
    data = observed[0]
    check_columns(config, column_types_of(data.kinds), first_files[0])
    label = config.label.name
    if len(observed) == 1:
        types = [column_types_of(data.kinds)]
    else:
        extra = observed[1]
        check_extra_columns(config, data.header, extra.header, first_files[1], warn=warn)
        kinds = {c: k | extra.kinds.get(c, set()) for c, k in data.kinds.items()}
        merged = column_types_of(kinds)
        extra_types = {c: merged[c] for c in extra.header if c in merged}
        extra_types[label] = merged.get(label) or column_types_of({label: extra.kinds[label]})[label]
        types = [merged, extra_types]
    if config.label.positive is not None:
        for part in types:  # fails before any row is written
            positive_texts(config.label, part[label])
    column_types = dict(types[0])
    column_types[label] = FLOAT if config.label.task == "regression" else INT
    return Plan(types, column_types)


def plan_or_error(config: PipelineConfig, observed: list[Observed], first_files: list[str]) -> Plan:
    try:
        return build_plan(config, observed, first_files, warn=False)
    except InputDataError as err:
        return Plan(error=str(err))


# ------------------------------------------------------------------------------------ JSON


def observed_to_json(observed: Observed) -> dict:
    return {
        "header": observed.header,
        "kinds": {c: sorted(k) for c, k in observed.kinds.items()},
        "problem": [list(observed.problem.key), observed.problem.message] if observed.problem else None,
    }


def observed_from_json(data: dict) -> Observed:
    problem = Problem(tuple(data["problem"][0]), data["problem"][1]) if data["problem"] else None
    return Observed(data["header"], {c: set(k) for c, k in data["kinds"].items()}, problem)
