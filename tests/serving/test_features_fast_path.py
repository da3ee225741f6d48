"""from_v1 converts whole columns when every value is plainly valid; the result must equal the
per-value path's exactly (arrays and logged rows), and anything unusual still gets the
per-value path's worded 400."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kserve.errors import InvalidInput

from predictor import features as F

FIXTURES = Path(__file__).parent / "fixtures"


def specs_and_rows(example: str):
    rows = json.loads((FIXTURES / example / "rows.json").read_text())["instances"]
    kinds = {str: F.STRING, int: F.INT64, float: F.FLOAT32}
    specs = [F.FeatureSpec(name, kinds[type(value)]) for name, value in sorted(rows[0].items())]
    return specs, rows


def per_value(specs, rows):
    columns, logged = {s.name: [] for s in specs}, []
    for i, instance in enumerate(rows):
        row = {s.name: F.coerce(s, instance[s.name], f"instances[{i}]") for s in specs}
        logged.append(row)
        for s in specs:
            columns[s.name].append(row[s.name])
    return F._columns_to_arrays(specs, columns), logged


@pytest.mark.parametrize("example", ["chicago_taxi", "penguins", "auto_mpg"])
def test_the_column_path_equals_the_per_value_path(example):
    specs, rows = specs_and_rows(example)
    assert F._fast_v1(specs, rows) is not None  # the fixtures' rows take the fast path
    arrays, logged = F.from_v1(specs, {"instances": rows}, 1024)
    expected_arrays, expected_logged = per_value(specs, rows)
    assert logged == expected_logged
    for name, expected in expected_arrays.items():
        assert arrays[name].dtype == expected.dtype and np.array_equal(arrays[name], expected), name


def test_unusual_values_take_the_per_value_path():
    specs, rows = specs_and_rows("chicago_taxi")
    number = next(s for s in specs if s.kind == F.FLOAT32)
    integer = next(s for s in specs if s.kind == F.INT64)
    # An integral float for an int64 feature is accepted by the per-value path, and logged as int.
    rows = [*rows[:-1], dict(rows[-1], **{integer.name: 7.0})]
    assert F._fast_v1(specs, rows) is None
    _, logged = F.from_v1(specs, {"instances": rows}, 1024)
    assert logged[-1][integer.name] == 7 and type(logged[-1][integer.name]) is int
    for bad, message in [
        (float("nan"), "must be finite"),
        (True, "must be a number"),
        ("12", "must be a number"),
        (1e39, "out of the float32 range"),
        (10**400, "must be finite and in range"),
    ]:
        with pytest.raises(InvalidInput, match=message) as err:
            F.from_v1(specs, {"instances": [*rows[:-1], dict(rows[-1], **{number.name: bad})]}, 1024)
        assert f"instances[{len(rows) - 1}]" in str(err.value) and number.name in str(err.value)
