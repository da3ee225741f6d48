"""TabularModel: a kserve.Model that serves a pushed tabml SavedModel's `serving_raw` signature,
for binary classification, multiclass classification and regression (predictor/tasks.py).

preprocess  parses and checks the payload (v1 dict or v2 InferRequest) -> Batch, or a 400
predict     runs `serving_raw` on the batch (in the server's thread pool; TF releases the GIL)
postprocess builds the task's v1 / v2 response and writes the request log lines, with the
            request's latency from preprocess's start (Batch.started) to the response built
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import orjson
import tensorflow as tf
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from contracts.signatures import CLASSES, SERVING_RAW

from . import features as F
from . import tasks as T
from .domains import DomainChecker, load_checker
from .model_dir import resolve
from .request_log import RequestLogger

# A child of KServe's logger: its handler and format (configured by server.main).
log = logging.getLogger("kserve.tabml")

DEFAULT_MAX_BATCH_SIZE = 1024
# Out-of-domain values (domains.py) are counted and logged; rejected with a 400 only when this is set.
REJECT_OUT_OF_DOMAIN_ENV = "REJECT_OUT_OF_DOMAIN"

# Added to KServe's own request_{preprocess,predict,postprocess}_seconds on /metrics.
REJECTED = Counter(
    "tabml_predictor_rejected_requests", "requests answered with 400 by the predictor", ["model_name", "protocol"]
)
INSTANCES = Counter("tabml_predictor_instances", "instances predicted", ["model_name", "model_version"])
LOG_DROPPED = Counter(
    "tabml_predictor_request_log_dropped_lines",
    "request-log lines dropped because the log's queue was full (a sink slower than the traffic)",
    ["model_name"],
)
PROBABILITY = Histogram(
    "tabml_predictor_probability",
    "per instance: the positive-class probability (binary) or the top class's probability (multiclass)",
    ["model_name", "model_version"],
    buckets=T.PROBABILITY_BUCKETS,
)
PREDICTED_CLASS = Counter(
    "tabml_predictor_predicted_class",
    "instances per predicted (argmax) class (multiclass)",
    ["model_name", "model_version", "class_name"],
)
MODEL_INFO = Gauge(
    "tabml_predictor_model_info",
    "1 for the model version being served",
    ["model_name", "model_version", "task", "path"],
)
VALUE_METRIC = "tabml_predictor_value"
_value_histogram: tuple[tuple[float, ...], Histogram] | None = None


def value_histogram(buckets: tuple[float, ...]) -> Histogram:
    """Regression: the predicted values' histogram. Its buckets follow the served model's label
    range (tasks.regression_buckets), so it is made when a regression model loads (one model
    per server process; a later model with other buckets replaces it)."""
    global _value_histogram
    buckets = tuple(float(b) for b in buckets)
    if _value_histogram is not None:
        if _value_histogram[0] == buckets:
            return _value_histogram[1]
        REGISTRY.unregister(_value_histogram[1])
    histogram = Histogram(
        VALUE_METRIC, "predicted value per instance (regression)", ["model_name", "model_version"], buckets=buckets
    )
    _value_histogram = (buckets, histogram)
    return histogram


@dataclass
class Batch:
    protocol: str  # "v1" | "v2"
    request_id: str
    arrays: dict[str, np.ndarray]
    features: list[dict]  # per instance, as logged
    started: float  # time.perf_counter() when preprocess began: the logged latency's start
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # the signature's, by name
    requested_outputs: list = field(default_factory=list)
    out_of_domain: list[list[str]] = field(default_factory=list)  # per instance; [] when none


def _new_id() -> str:
    """A random (version 4) UUID's hex, as uuid.uuid4().hex, without its os.urandom call: a
    system call that lets another thread (the model's, the request log's) take the GIL."""
    return uuid.UUID(int=random.getrandbits(128), version=4).hex


def _parse_json(body):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"malformed JSON: {e}") from None


class TabularModel(Model):
    def __init__(
        self,
        name: str,
        model_path: str,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        request_log: str | None = None,
        request_log_sample: float | None = None,
        reject_out_of_domain: bool | None = None,
    ):
        super().__init__(name, return_response_headers=True)
        if reject_out_of_domain is None:
            reject_out_of_domain = os.environ.get(REJECT_OUT_OF_DOMAIN_ENV, "").lower() in ("1", "true", "yes")
        self.reject_out_of_domain = reject_out_of_domain
        self.domains: DomainChecker | None = None
        self.model_path = model_path
        self.max_batch_size = max_batch_size
        self.request_log_path = request_log
        self.request_log_sample = request_log_sample  # None: $REQUEST_LOG_SAMPLE, else 1
        self.request_logger: RequestLogger | None = None
        self.version = ""
        self.version_dir = ""
        self.metadata: dict = {}
        self.specs: list[F.FeatureSpec] = []
        self.head: T.Head | None = None
        self._histogram: Histogram = PROBABILITY
        self._loaded = None
        self._fn = None
        self._flat: FlatSignature | None = None  # the lean call of _fn, when it checks out at load

    @property
    def task(self) -> str:
        return self.head.task if self.head else ""

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> bool:
        resolved = resolve(self.model_path)
        self.version_dir, self.version, self.metadata = resolved.path, resolved.version, resolved.metadata
        self._loaded = tf.saved_model.load(self.version_dir)
        if SERVING_RAW not in self._loaded.signatures:
            raise ValueError(
                f"{self.version_dir} has no '{SERVING_RAW}' signature (has: {sorted(self._loaded.signatures)})"
            )
        self._fn = self._loaded.signatures[SERVING_RAW]
        try:
            self.head = T.head_for(self.metadata, self._fn.structured_outputs)
        except ValueError as e:
            raise ValueError(f"'{SERVING_RAW}' of {self.version_dir}: {e}") from None
        self.specs = F.specs_from_signature(self._fn)
        self.domains = load_checker(self.version_dir, self.specs, self.name, self.version)
        # Warm up (traces the graph) so that the first request is not the slow one; it also
        # gives a multiclass model's class names.
        warm = self.infer({s.name: np.asarray([s.fill], dtype=F.NUMPY[s.kind]) for s in self.specs})
        self._flat = FlatSignature.checked(self._fn, self.specs, self.head.names, self.version_dir)
        if isinstance(self.head, T.MulticlassHead):
            self.head.classes = [c.decode("utf-8") for c in warm[CLASSES][0]]
            recorded = (self.metadata.get("label") or {}).get("classes")
            if recorded and list(recorded) != self.head.classes:
                raise ValueError(
                    f"{self.version_dir}: the model's '{CLASSES}' output is {self.head.classes}, "
                    f"but model_metadata.json's label.classes is {recorded}"
                )
        if isinstance(self.head, T.RegressionHead):
            self._histogram = value_histogram(T.regression_buckets(self.metadata))
        self.request_logger = RequestLogger(
            self.request_log_path,
            self.name,
            sample=self.request_log_sample,
            on_drop=LOG_DROPPED.labels(self.name).inc,
        )
        MODEL_INFO.labels(self.name, self.version, self.task, self.version_dir).set(1)
        log.info(
            "serving %s version %s (%s) from %s (%d features, max batch %d, request log %s, out-of-domain values %s)",
            self.name,
            self.version,
            self.task,
            self.version_dir,
            len(self.specs),
            self.max_batch_size,
            self.request_logger.path or "off",
            "rejected" if self.reject_out_of_domain else "counted",
        )
        self.ready = True
        return self.ready

    def stop(self):
        if self.request_logger:
            self.request_logger.close()
        super().stop()

    def infer(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`serving_raw` on one batch of columns -> the task's outputs as numpy arrays."""
        if self._flat is not None:
            return self._flat(arrays)
        return structured_call(self._fn, arrays, self.head.names)

    # -- metadata (v2 /v2/models/<name>) ------------------------------------------------------
    def get_input_types(self):
        return [{"name": s.name, "datatype": F.V2_DATATYPE[s.kind], "shape": [-1]} for s in self.specs]

    def get_output_types(self):
        return self.head.output_types() if self.head else []

    # -- request path ------------------------------------------------------------------------
    def _reject(self, request_id: str, protocol: str, error: str, started: float) -> None:
        REJECTED.labels(self.name, protocol).inc()
        self.request_logger.rejected(
            request_id=request_id,
            model_name=self.name,
            model_version=self.version,
            protocol=protocol,
            error=error,
            latency_ms=_elapsed_ms(started),
        )

    async def preprocess(self, payload, headers=None):
        started = time.perf_counter()
        headers = headers or {}
        protocol = "v2" if isinstance(payload, InferRequest) else "v1"
        request_id = headers.get("x-request-id") or (payload.id if protocol == "v2" and payload.id else _new_id())
        try:
            if isinstance(payload, (bytes, str)):
                # KServe hands over the raw body when the content-type is not JSON (curl -d).
                payload = _parse_json(payload)
            if protocol == "v2":
                arrays, rows = F.from_v2(self.specs, payload, self.max_batch_size)
            else:
                arrays, rows = F.from_v1(self.specs, payload, self.max_batch_size)
        except InvalidInput as e:
            self._reject(request_id, protocol, str(e), started)
            raise
        requested = list(payload.request_outputs or []) if protocol == "v2" else []
        for out in requested:
            if out.name not in self.head.names:
                have = ", ".join(f"'{n}'" for n in self.head.names)
                error = f"unknown output '{out.name}'; this {self.task} model's outputs are {have}"
                self._reject(request_id, protocol, error, started)
                raise InvalidInput(error)
        batch = Batch(protocol, request_id, arrays, rows, started, requested_outputs=requested)
        if self.domains:
            found = self.domains.check(arrays)  # counted per feature, rejected or not
            if found and self.reject_out_of_domain:
                error = self.domains.message(found, arrays, protocol)
                self._reject(request_id, protocol, error, started)
                raise InvalidInput(error)
            batch.out_of_domain = found.per_instance
        return batch

    async def predict(self, payload: Batch, headers=None, response_headers=None) -> Batch:
        loop = asyncio.get_running_loop()
        payload.outputs = await loop.run_in_executor(None, self.infer, payload.arrays)
        return payload

    def _observe(self, outputs: dict[str, np.ndarray], n: int) -> None:
        INSTANCES.labels(self.name, self.version).inc(n)
        observe_many(self._histogram.labels(self.name, self.version), self.head.observed(outputs))
        if isinstance(self.head, T.MulticlassHead):
            for name, count in collections.Counter(self.head.top_classes(outputs)).items():
                PREDICTED_CLASS.labels(self.name, self.version, name).inc(count)

    async def postprocess(self, result: Batch, headers=None, response_headers=None):
        predictions = self.head.v1(result.outputs)
        response = self._response(result, predictions)
        # Queued before the response goes out; the request log's own thread writes it (a slow
        # sink never stalls the event loop; a full queue drops and counts).
        self.request_logger.predictions(
            request_id=result.request_id,
            model_name=self.name,
            model_version=self.version,
            task=self.task,
            protocol=result.protocol,
            features=result.features,
            predictions=predictions,
            latency_ms=_elapsed_ms(result.started),
            out_of_domain=result.out_of_domain,
        )
        self._observe(result.outputs, len(predictions))
        if response_headers is not None:
            response_headers["x-request-id"] = result.request_id
            response_headers["x-model-version"] = self.version
        return response

    def _response(self, result: Batch, predictions: list):
        if result.protocol == "v1":
            return {"predictions": predictions, "model_name": self.name, "model_version": self.version}
        binary = bool(result.requested_outputs and result.requested_outputs[0].binary_data)
        outputs = []
        for name, (datatype, array) in self.head.v2(result.outputs).items():
            output = InferOutput(name=name, shape=list(array.shape), datatype=datatype)
            output.set_data_from_numpy(array, binary_data=binary)
            outputs.append(output)
        return InferResponse(
            response_id=result.request_id,
            model_name=self.name,
            model_version=self.version,
            infer_outputs=outputs,
            use_binary_outputs=binary,
            requested_outputs=result.requested_outputs or None,
        )


def structured_call(fn, arrays: dict[str, np.ndarray], names) -> dict[str, np.ndarray]:
    """The signature called as TensorFlow documents it: by keyword, the outputs by name."""
    outputs = fn(**{name: tf.constant(value) for name, value in arrays.items()})
    return {name: outputs[name].numpy() for name in names}


class FlatSignature:
    """A signature's graph function called with its flat list of tensors.

    Called by keyword, a signature spends about 0.45 ms of Python a call binding the keyword
    arguments to its input specs (ConcreteFunction's canonicalization and casts), a third of the
    call's CPU for 64 rows (serving/README.md "Performance (under load)"). The features are
    already columns of the specs' dtypes (features.py), so the call goes straight to the
    function's `inference_fn` (the AtomicFunction that ConcreteFunction.__call__ ends in when
    no gradient tape watches): the inputs in the flat order that the function's FunctionType
    gives, then the function's captured inputs, as ConcreteFunction._call_flat passes them.
    `inference_fn` is public (tf.types.experimental.ConcreteFunction); its
    `call_preflattened` is not in the documented API (the documented `call_with_captures`
    does not take a loaded SavedModel's captures), so `checked` uses the flat call only when
    it answers a probe batch exactly as the keyword call does; else the model is served with
    the keyword call."""

    def __init__(self, fn, order: list[str], names):
        self._fn, self._call, self._order, self._names = fn, fn.inference_fn.call_preflattened, order, names

    def __call__(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = [tf.constant(arrays[name]) for name in self._order]
        outputs = self._call(inputs + self._fn.captured_inputs)
        return {name: outputs[name].numpy() for name in self._names}

    @classmethod
    def checked(cls, fn, specs: list[F.FeatureSpec], names, where: str) -> FlatSignature | None:
        try:
            # The flat order as ConcreteFunction computes it (FunctionType.unpack_inputs): each
            # input's tensor passed by keyword found in the flat list it makes
            probe = F.probe_batch(specs)
            tensors = {name: tf.constant(value) for name, value in probe.items()}
            flat_inputs = fn.function_type.unpack_inputs(fn.function_type.bind(**tensors))
            by_id = {id(t): name for name, t in tensors.items()}
            order = [by_id.get(id(t)) for t in flat_inputs]
            if sorted(filter(None, order)) != sorted(tensors) or len(order) != len(tensors):
                raise ValueError("its flat inputs are not the signature's inputs, each once")
            flat = cls(fn, order, names)
            expected, got = structured_call(fn, probe, names), flat(probe)
            if not all(np.array_equal(expected[n], got[n]) for n in names):
                raise ValueError("it answers a probe batch otherwise than the keyword call")
        except Exception as e:  # any surprise in TensorFlow's internals: the documented call
            log.warning("%s: '%s' called by keyword (the flat call does not apply: %s)", where, SERVING_RAW, e)
            return None
        return flat


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def observe_many(histogram, values: np.ndarray) -> None:
    """histogram.observe(v) for each value, a bucket at a time: 64 observe() calls were a tenth
    of a batch's Python on the event loop. Uses prometheus_client's Histogram internals (its
    bucket bounds and values, multiprocess mode included); per value if they are not there."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bounds, buckets, total = (getattr(histogram, a, None) for a in ("_upper_bounds", "_buckets", "_sum"))
    if bounds is None or buckets is None or total is None:
        for value in values.tolist():
            histogram.observe(value)
        return
    # observe() counts a value in the first bucket whose bound is >= it (NaN: in none)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds) + 1)
    for i, count in enumerate(counts[: len(bounds)].tolist()):
        if count:
            buckets[i].inc(count)
    total.inc(sum(values.tolist()))
