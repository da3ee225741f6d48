"""Turning request payloads into the `serving_raw` signature's tensors, or a 400.

Every check raises kserve.errors.InvalidInput, which KServe's REST server answers with HTTP 400
and `{"error": "<message>"}`; each message names the instance/input and the feature at fault.

Rules (the same for v1 and v2):
  - every feature of the signature must be present. A missing *value* is sent as the column's
    fill value, 0 for numbers and "" for strings: that is what the transform substitutes for
    an absent feature in a tf.Example, so `serving_raw` and `serving_default` then agree.
    A missing key or a JSON null is rejected (not silently filled), naming the feature.
  - int64 features take JSON integers (an integral float such as 3.0 is accepted), float32
    features take JSON numbers, string features take JSON strings. Booleans are rejected.
  - keys that are not features of the model (e.g. the label, or an id column) are ignored.
  - a batch holds 1..max_batch_size instances.
"""

from __future__ import annotations

import math
from collections import UserList
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

import numpy as np
import tensorflow as tf
from kserve.errors import InvalidInput

INT64, FLOAT32, STRING = "int64", "float32", "string"
_KIND = {tf.int64: INT64, tf.float32: FLOAT32, tf.string: STRING}
FILL = {INT64: 0, FLOAT32: 0.0, STRING: ""}
NUMPY = {INT64: np.int64, FLOAT32: np.float32, STRING: object}
V2_DATATYPE = {INT64: "INT64", FLOAT32: "FP32", STRING: "BYTES"}
# v2 datatypes accepted for each kind (values are still checked one by one).
V2_ACCEPTED = {
    INT64: {"INT64", "INT32", "INT16", "INT8", "UINT32", "UINT16", "UINT8"},
    FLOAT32: {"FP32", "FP64", "INT64", "INT32", "INT16", "INT8"},
    STRING: {"BYTES"},
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    kind: str  # int64 | float32 | string

    @property
    def fill(self):
        return FILL[self.kind]


def specs_from_signature(signature) -> list[FeatureSpec]:
    """One FeatureSpec per input of a concrete function (sorted by name)."""
    _, kwargs = signature.structured_input_signature
    specs = []
    for name, tensor_spec in sorted(kwargs.items()):
        if tensor_spec.dtype not in _KIND:
            raise ValueError(f"input {name!r} has unsupported dtype {tensor_spec.dtype.name}")
        if tensor_spec.shape.rank != 1:
            raise ValueError(f"input {name!r} has shape {tensor_spec.shape}; expected [batch]")
        specs.append(FeatureSpec(name, _KIND[tensor_spec.dtype]))
    return specs


def probe_batch(specs: list[FeatureSpec], rows: int = 4) -> dict[str, np.ndarray]:
    """A small batch whose values differ from feature to feature and row to row (the fill value
    in the first row): two calls of a model that must agree are compared on it."""
    columns = {}
    for c, s in enumerate(specs):
        if s.kind == STRING:
            values = [s.fill] + [f"probe-{c}-{r}" for r in range(1, rows)]
        else:
            values = [s.fill] + [(c + 1) * r + (0.25 * r if s.kind == FLOAT32 else 0) for r in range(1, rows)]
        columns[s.name] = np.asarray(values, dtype=NUMPY[s.kind])
    return columns


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def coerce(spec: FeatureSpec, value, where: str):
    """A JSON value -> the Python value for the feature's dtype, or InvalidInput."""
    if value is None:
        raise InvalidInput(
            f"{where}: feature '{spec.name}' is null; send {spec.fill!r} for a missing {spec.kind} value"
        )
    if spec.kind == STRING:
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{where}: feature '{spec.name}' is not valid UTF-8") from None
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: feature '{spec.name}' must be a string, got {_describe(value)}")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(f"{where}: feature '{spec.name}' must be a number ({spec.kind}), got {_describe(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float, e.g. 1 followed by 400 zeros
        finite = False
    if not finite:
        raise InvalidInput(f"{where}: feature '{spec.name}' must be finite and in range, got {_describe(value)}")
    if spec.kind == INT64:
        if isinstance(value, (float, np.floating)):
            if not float(value).is_integer():
                raise InvalidInput(f"{where}: feature '{spec.name}' must be an integer (int64), got {_describe(value)}")
            value = int(value)
        value = int(value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInput(f"{where}: feature '{spec.name}' is out of the int64 range")
        return value
    if abs(float(value)) > _FLOAT32_MAX:  # would become inf in the float32 model input
        raise InvalidInput(f"{where}: feature '{spec.name}' is out of the float32 range")
    return float(value)


def check_batch_size(n: int, max_batch_size: int, what: str) -> None:
    if n == 0:
        raise InvalidInput(f"empty batch: {what} has no instances")
    if n > max_batch_size:
        raise InvalidInput(
            f"batch too large: {what} has {n} instances; the maximum is {max_batch_size} (--max_batch_size)"
        )


def _columns_to_arrays(specs, columns: dict[str, list]) -> dict[str, np.ndarray]:
    return {s.name: np.asarray(columns[s.name], dtype=NUMPY[s.kind]) for s in specs}


def _missing_message(where: str, missing: list[str]) -> str:
    names = ", ".join(f"'{m}'" for m in missing)
    word = "feature" if len(missing) == 1 else "features"
    return f'{where} is missing {word} {names} (send 0 for a missing number and "" for a missing string)'


class LoggedRows(UserList):
    """The instances as the request log records them, built from the columns on first use: in
    the request log's own thread, and only for a request it logs (not 64 dicts per request on
    the event loop for nothing)."""

    def __init__(self, names: list[str], columns: list):
        self._names, self._columns, self._rows = names, columns, None

    @property
    def data(self) -> list[dict]:
        if self._rows is None:
            columns = [c.tolist() if isinstance(c, np.ndarray) else c for c in self._columns]
            self._rows = list(map(dict, map(zip, repeat(self._names), zip(*columns, strict=True))))
        return self._rows

    def __iter__(self):  # UserList's goes through __getitem__ and `data` once per row
        return iter(self.data)


def _column(spec: FeatureSpec, values: tuple) -> tuple[np.ndarray, object] | None:
    """A whole column at once when every value is plainly valid (the common case): the model
    array and the values as logged (a float64 array: the numbers as floats); None sends the
    batch through the per-value checks, which word the error."""
    types = set(map(type, values))
    try:
        if spec.kind == STRING:
            return (np.array(values, dtype=object), values) if types == {str} else None
        if spec.kind == INT64:
            return (np.array(values, dtype=np.int64), values) if types == {int} else None
        if not types <= {float, int}:
            return None
        wide = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond int64 / float64
        return None
    if not np.abs(wide).max() <= _FLOAT32_MAX:  # also false for NaN; inf is above
        return None
    return wide.astype(np.float32), (values if types == {float} else wide)


def _fast_v1(specs: list[FeatureSpec], instances: list):
    """from_v1's arrays and logged rows for a batch of well-formed instances, else None."""
    if not specs or set(map(type, instances)) != {dict}:
        return None
    names = [s.name for s in specs]
    try:
        rows = list(map(itemgetter(*names), instances))  # a tuple per instance (C loops)
    except KeyError:
        return None
    columns = list(zip(*rows, strict=True)) if len(names) > 1 else [tuple(rows)]
    arrays, logged_columns = {}, []
    for spec, values in zip(specs, columns, strict=True):
        column = _column(spec, values)
        if column is None:
            return None
        arrays[spec.name] = column[0]
        logged_columns.append(column[1])
    return arrays, LoggedRows(names, logged_columns)


def from_v1(specs: list[FeatureSpec], payload, max_batch_size: int):
    """v1 body {"instances": [{feature: value, ...}, ...]} -> (arrays, instances as logged)."""
    if not isinstance(payload, dict):
        raise InvalidInput(f'the request body must be a JSON object with "instances", got {type(payload).__name__}')
    if "instances" not in payload:
        raise InvalidInput('the request body has no "instances" (a list of raw feature objects)')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InvalidInput(f'"instances" must be a list, got {type(instances).__name__}')
    check_batch_size(len(instances), max_batch_size, '"instances"')
    fast = _fast_v1(specs, instances)
    if fast is not None:
        return fast
    columns: dict[str, list] = {s.name: [] for s in specs}
    logged = []
    for i, instance in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(instance, dict):
            raise InvalidInput(f"{where} must be an object of raw features, got {_describe(instance)}")
        missing = [s.name for s in specs if s.name not in instance]
        if missing:
            raise InvalidInput(_missing_message(where, missing))
        row = {}
        for s in specs:
            row[s.name] = coerce(s, instance[s.name], where)
            columns[s.name].append(row[s.name])
        logged.append(row)
    return _columns_to_arrays(specs, columns), logged


def _flatten(data) -> list:
    out = []
    stack = [data]
    while stack:  # iterative, depth-first, order-preserving
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def from_v2(specs: list[FeatureSpec], request, max_batch_size: int):
    """A v2 InferRequest with one input per feature, shape [batch] (or [batch, 1])."""
    inputs = {inp.name: inp for inp in request.inputs}
    missing = [s.name for s in specs if s.name not in inputs]
    if missing:
        raise InvalidInput(_missing_message('"inputs"', missing))
    batch = None
    columns: dict[str, list] = {}
    for s in specs:
        inp = inputs[s.name]
        where = f"input '{s.name}'"
        if inp.datatype not in V2_ACCEPTED[s.kind]:
            raise InvalidInput(f"{where} has datatype {inp.datatype}; expected {V2_DATATYPE[s.kind]} ({s.kind})")
        shape = list(inp.shape or [])
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 0:
            raise InvalidInput(f"{where} has shape {shape}; expected [batch] or [batch, 1]")
        if batch is None:
            batch = shape[0]
            check_batch_size(batch, max_batch_size, f"input '{s.name}'")
        elif shape[0] != batch:
            raise InvalidInput(f"{where} has batch size {shape[0]}; other inputs have {batch}")
        if getattr(inp, "_raw_data", None) is not None:
            values = inp.as_numpy().reshape(-1).tolist()
        else:
            values = _flatten(inp.data if inp.data is not None else [])
        if len(values) != batch:
            raise InvalidInput(f"{where} has {len(values)} values for shape {shape}")
        columns[s.name] = [coerce(s, v, f"{where}[{j}]") for j, v in enumerate(values)]
    logged = [{s.name: columns[s.name][j] for s in specs} for j in range(batch)]
    return _columns_to_arrays(specs, columns), logged
