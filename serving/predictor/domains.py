"""Request values checked against the domains of the TFDV schema the model was trained with.

The Pusher copies the schema into the version directory (`contracts.registry.TRAINING_SCHEMA`,
`schema/schema.pbtxt`); a version pushed before that has none and is served unchecked. What is
checked, per serving input that the schema describes (as TFDV validates a feature):
  int_domain / float_domain   min and max (either may be absent)
  string_domain               the listed values (inline, or a global one named by `domain:`)
  bool_domain                 0/1 for an int feature; true_value/false_value for a string one
The input's fill value (0 / "", what a client sends for a missing value, features.py) is never
out of domain: it stands for "missing", which the schema's presence rules, not its domain, cover.
Deprecated features and other domain kinds (natural language, image, ...) are not checked.

Each feature's check is built once at load; a batch is checked column by column (numpy
comparisons for numbers, set lookups for strings), a few microseconds per feature.

tensorflow_metadata (schema_pb2) is not in the serving environment: the schema's text format is
read with protobuf's own tokenizer into plain dicts, which is all the domains need.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from prometheus_client import Counter

from contracts.registry import TRAINING_SCHEMA

from .features import FILL, FLOAT32, STRING, FeatureSpec

log = logging.getLogger("kserve.tabml")

OUT_OF_DOMAIN = Counter(
    "tabml_predictor_out_of_domain",
    "feature values outside the training schema's domain (each instance's value counts once)",
    ["model_name", "model_version", "feature"],
)
# TFDV validates only features in production stages.
_UNCHECKED_STAGES = {"PLANNED", "ALPHA", "DEBUG_ONLY", "DEPRECATED", "DISABLED"}
_MAX_LISTED = 8  # string values named in a message
_PYTHON_BELOW = 32  # batch size up to which a numeric column is checked value by value


def parse_text_proto(text: str) -> dict[str, list]:
    """Protobuf text format -> {field: [values]}; sub-messages as dicts, enums as their names.
    Generic (no descriptor): numbers become int or float, quoted strings str."""
    tokenizer = text_format.Tokenizer(text.splitlines())
    return _message(tokenizer, end=None)


def _message(tok, end: str | None) -> dict[str, list]:
    fields: dict[str, list] = {}
    while not (tok.AtEnd() if end is None else tok.TryConsume(end)):
        if tok.AtEnd():
            raise tok.ParseError(f"expected '{end}'")
        name = tok.ConsumeIdentifierOrNumber()
        has_colon = tok.TryConsume(":")
        if has_colon and tok.TryConsume("["):
            values = []
            while not tok.TryConsume("]"):
                values.append(_value(tok))
                tok.TryConsume(",")
        else:
            values = [_value(tok)]
        fields.setdefault(name, []).extend(values)
        tok.TryConsume(",") or tok.TryConsume(";")
    return fields


def _value(tok):
    for start, end in (("{", "}"), ("<", ">")):
        if tok.TryConsume(start):
            return _message(tok, end)
    if tok.token[:1] in ("'", '"'):
        return tok.ConsumeString()
    raw = tok.token
    tok.NextToken()
    for parse in (lambda t: int(t, 0), text_format.ParseFloat):
        try:
            return parse(raw)
        except ValueError:
            pass
    return raw  # an enum value or true/false


def _first(message: dict, name: str, default=None):
    values = message.get(name)
    return values[0] if values else default


@dataclass(frozen=True)
class Domain:
    """One input's domain; `outside(column)` marks the values outside it (the fill value never)."""

    feature: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: frozenset | None = None  # strings

    @property
    def fill(self):
        return FILL[self.kind]

    def describe(self) -> str:
        if self.values is not None:
            listed = sorted(self.values)
            shown = ", ".join(repr(v) for v in listed[:_MAX_LISTED])
            more = f", ... ({len(listed)} values)" if len(listed) > _MAX_LISTED else ""
            return f"one of {shown}{more}"
        if self.low is not None and self.high is not None:
            return f"{_number(self.low)} to {_number(self.high)}"
        return f">= {_number(self.low)}" if self.low is not None else f"<= {_number(self.high)}"

    @cached_property
    def _allowed(self) -> frozenset:
        return self.values | {self.fill}

    @cached_property
    def _range(self) -> tuple:
        return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)

    def outside(self, column: np.ndarray) -> list[int]:
        """Indices of the values outside the domain (the fill value never is)."""
        if self.values is not None:
            allowed = self._allowed
            return [i for i, v in enumerate(column.tolist()) if v not in allowed]
        low, high = self._range
        fill = self.fill
        if len(column) <= _PYTHON_BELOW:  # a few values: Python compares beat numpy's per-call cost
            return [i for i, v in enumerate(column.tolist()) if not low <= v <= high and v != fill]
        mask = (column < low) | (column > high)
        return [i for i in np.flatnonzero(mask).tolist() if column[i] != fill] if mask.any() else []


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _bound(message: dict, name: str, kind: str) -> float | int | None:
    value = _first(message, name)
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return None
    if kind == FLOAT32:  # compared as float32: a value sent as the bound itself is inside
        return float(np.float32(value))
    return value if isinstance(value, int) else float(value)  # int64 compares exactly with an int


def _domain_of(spec: FeatureSpec, feature: dict, global_domains: dict[str, tuple[str, dict]]) -> Domain | None:
    kind, body = None, None
    for key in ("int_domain", "float_domain", "string_domain", "bool_domain"):
        if key in feature:
            kind, body = key, feature[key][0]
    if kind is None and "domain" in feature:
        kind, body = global_domains.get(_first(feature, "domain"), (None, None))
    if kind is None:
        return None
    numeric = spec.kind != STRING
    if kind in ("int_domain", "float_domain") and numeric:
        low, high = _bound(body, "min", spec.kind), _bound(body, "max", spec.kind)
        return Domain(spec.name, spec.kind, low, high) if (low, high) != (None, None) else None
    if kind == "string_domain" and not numeric:
        return Domain(spec.name, spec.kind, values=frozenset(str(v) for v in body.get("value", [])))
    if kind == "bool_domain":
        if numeric:
            return Domain(spec.name, spec.kind, 0, 1)
        values = [_first(body, "true_value"), _first(body, "false_value")]
        return (
            Domain(spec.name, spec.kind, values=frozenset(v for v in values if v is not None)) if any(values) else None
        )
    return None  # a domain that does not fit the input's dtype: not checked


def domains_from_schema(schema: dict, specs: list[FeatureSpec]) -> list[Domain]:
    """The checkable domains of the serving inputs, from a parsed schema (parse_text_proto)."""
    global_domains = {}
    for key in ("string_domain", "int_domain", "float_domain"):
        for body in schema.get(key, []):
            global_domains[_first(body, "name")] = (key, body)
    features = {_first(f, "name"): f for f in schema.get("feature", [])}
    domains = []
    for spec in specs:
        feature = features.get(spec.name)
        if feature is None or _first(feature, "deprecated") is True or _first(feature, "deprecated") == "true":
            continue
        if _first(feature, "lifecycle_stage") in _UNCHECKED_STAGES:
            continue
        domain = _domain_of(spec, feature, global_domains)
        if domain is not None:
            domains.append(domain)
    return domains


@dataclass
class OutOfDomain:
    """A batch's out-of-domain values: per instance the features at fault (in input order)."""

    found: dict[str, list[int]]  # feature -> the instances whose value is outside; only features with one
    per_instance: list[list[str]]

    def __bool__(self) -> bool:
        return bool(self.found)


class DomainChecker:
    def __init__(self, domains: list[Domain], model_name: str, model_version: str):
        self.domains = domains
        self._counters = {d.feature: OUT_OF_DOMAIN.labels(model_name, model_version, d.feature) for d in domains}

    def check(self, arrays: dict[str, np.ndarray]) -> OutOfDomain:
        """Marks and counts (tabml_predictor_out_of_domain_total) the batch's out-of-domain values."""
        found = {}
        for domain in self.domains:
            if indices := domain.outside(arrays[domain.feature]):
                found[domain.feature] = indices
                self._counters[domain.feature].inc(len(indices))
        if not found:
            return OutOfDomain({}, [])
        per_instance: list[list[str]] = [[] for _ in range(len(next(iter(arrays.values()))))]
        for feature, indices in found.items():
            for i in indices:
                per_instance[i].append(feature)
        return OutOfDomain(found, per_instance)

    def message(self, found: OutOfDomain, arrays: dict[str, np.ndarray], protocol: str) -> str:
        """The 400's message: each feature's first value out of its domain, and the domain."""
        by_name = {d.feature: d for d in self.domains}
        parts = []
        for feature, indices in found.found.items():
            i = indices[0]
            where = f"instances[{i}]" if protocol == "v1" else f"input '{feature}'[{i}]"
            value = arrays[feature][i]
            value = value.item() if isinstance(value, np.generic) else value
            others = f" (and {len(indices) - 1} more in this batch)" if len(indices) > 1 else ""
            parts.append(
                f"{where}: feature '{feature}' is {value!r}, outside the training schema's domain "
                f"({by_name[feature].describe()}){others}"
            )
        return "; ".join(parts)


def load_checker(version_dir: str, specs: list[FeatureSpec], model_name: str, model_version: str):
    """The version's DomainChecker, or None when it has no schema (logged either way)."""
    path = os.path.join(version_dir, TRAINING_SCHEMA)
    if not tf.io.gfile.exists(path):
        log.info(
            "%s has no %s (pushed before schemas traveled with versions): no domain checks",
            version_dir,
            TRAINING_SCHEMA,
        )
        return None
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    try:
        schema = parse_text_proto(text)
    except text_format.ParseError as e:
        raise ValueError(f"{path} is not a valid schema in protobuf text format: {e}") from None
    domains = domains_from_schema(schema, specs)
    log.info(
        "domain checks from %s: %s",
        path,
        "; ".join(f"{d.feature} {d.describe()}" for d in domains) or "none (the schema gives the inputs no domains)",
    )
    return DomainChecker(domains, model_name, model_version)
