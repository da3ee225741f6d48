"""TaxiModel: a kserve.Model that serves the pushed SavedModel's `serving_raw` signature.

preprocess  parses and checks the payload (v1 dict or v2 InferRequest) -> Batch, or a 400
predict     runs `serving_raw` on the batch (in the server's thread pool; TF releases the GIL)
postprocess builds the v1 / v2 response and writes the request log lines
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

import numpy as np
import orjson
import tensorflow as tf
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from prometheus_client import Counter, Gauge, Histogram

from . import features as F
from .model_dir import resolve
from .request_log import RequestLogger

log = logging.getLogger("taxi_serving")

RAW_SIGNATURE = "serving_raw"
OUTPUT_KEY = "probabilities"
DEFAULT_MAX_BATCH_SIZE = 1024

# Added to KServe's own request_{preprocess,predict,postprocess}_seconds on /metrics.
REJECTED = Counter("taxi_serving_rejected_requests", "requests answered with 400 by the predictor",
                   ["model_name", "protocol"])
INSTANCES = Counter("taxi_serving_instances", "instances predicted", ["model_name", "model_version"])
PREDICTION = Histogram("taxi_serving_prediction", "predicted probability per instance",
                       ["model_name", "model_version"], buckets=[i / 10 for i in range(1, 11)])
MODEL_INFO = Gauge("taxi_serving_model_info", "1 for the model version being served",
                   ["model_name", "model_version", "path"])


@dataclass
class Batch:
    protocol: str                       # "v1" | "v2"
    request_id: str
    arrays: dict[str, np.ndarray]
    features: list[dict]                # per instance, as logged
    probabilities: np.ndarray | None = None
    requested_outputs: list = field(default_factory=list)


def _parse_json(body):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"malformed JSON: {e}") from None


class TaxiModel(Model):
    def __init__(self, name: str, model_path: str, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                 request_log: str | None = None):
        super().__init__(name, return_response_headers=True)
        self.model_path = model_path
        self.max_batch_size = max_batch_size
        self.request_log_path = request_log
        self.request_logger: RequestLogger | None = None
        self.version = ""
        self.version_dir = ""
        self.metadata: dict = {}
        self.specs: list[F.FeatureSpec] = []
        self._loaded = None
        self._fn = None

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> bool:
        resolved = resolve(self.model_path)
        self.version_dir, self.version, self.metadata = resolved.path, resolved.version, resolved.metadata
        self._loaded = tf.saved_model.load(self.version_dir)
        if RAW_SIGNATURE not in self._loaded.signatures:
            raise ValueError(f"{self.version_dir} has no '{RAW_SIGNATURE}' signature "
                             f"(has: {sorted(self._loaded.signatures)})")
        self._fn = self._loaded.signatures[RAW_SIGNATURE]
        if OUTPUT_KEY not in self._fn.structured_outputs:
            raise ValueError(f"'{RAW_SIGNATURE}' of {self.version_dir} has no output '{OUTPUT_KEY}'")
        self.specs = F.specs_from_signature(self._fn)
        # Warm up (traces the graph) so that the first request is not the slow one.
        self.infer({s.name: np.asarray([s.fill], dtype=F.NUMPY[s.kind]) for s in self.specs})
        self.request_logger = RequestLogger(self.request_log_path, self.name)
        MODEL_INFO.labels(self.name, self.version, self.version_dir).set(1)
        log.info("serving %s version %s from %s (%d features, max batch %d, request log %s)",
                 self.name, self.version, self.version_dir, len(self.specs), self.max_batch_size,
                 self.request_logger.path or "off")
        self.ready = True
        return self.ready

    def stop(self):
        if self.request_logger:
            self.request_logger.close()
        super().stop()

    def infer(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """`serving_raw` on one batch of columns -> probabilities, float32 [batch]."""
        outputs = self._fn(**{name: tf.constant(value) for name, value in arrays.items()})
        return outputs[OUTPUT_KEY].numpy().reshape(-1)

    # -- metadata (v2 /v2/models/<name>) ------------------------------------------------------
    def get_input_types(self):
        return [{"name": s.name, "datatype": F.V2_DATATYPE[s.kind], "shape": [-1]} for s in self.specs]

    def get_output_types(self):
        return [{"name": OUTPUT_KEY, "datatype": "FP32", "shape": [-1]}]

    # -- request path ------------------------------------------------------------------------
    async def preprocess(self, payload, headers=None):
        headers = headers or {}
        protocol = "v2" if isinstance(payload, InferRequest) else "v1"
        request_id = headers.get("x-request-id") or (
            payload.id if protocol == "v2" and payload.id else uuid.uuid4().hex)
        try:
            if isinstance(payload, (bytes, str)):
                # KServe hands over the raw body when the content-type is not JSON (curl -d).
                payload = _parse_json(payload)
            if protocol == "v2":
                arrays, rows = F.from_v2(self.specs, payload, self.max_batch_size)
            else:
                arrays, rows = F.from_v1(self.specs, payload, self.max_batch_size)
        except InvalidInput as e:
            REJECTED.labels(self.name, protocol).inc()
            self.request_logger.rejected(request_id=request_id, model_name=self.name,
                                         model_version=self.version, protocol=protocol, error=str(e))
            raise
        requested = list(payload.request_outputs or []) if protocol == "v2" else []
        for out in requested:
            if out.name != OUTPUT_KEY:
                REJECTED.labels(self.name, protocol).inc()
                error = f"unknown output '{out.name}'; this model has '{OUTPUT_KEY}'"
                self.request_logger.rejected(request_id=request_id, model_name=self.name,
                                             model_version=self.version, protocol=protocol, error=error)
                raise InvalidInput(error)
        return Batch(protocol, request_id, arrays, rows, requested_outputs=requested)

    async def predict(self, payload: Batch, headers=None, response_headers=None) -> Batch:
        loop = asyncio.get_running_loop()
        payload.probabilities = await loop.run_in_executor(None, self.infer, payload.arrays)
        return payload

    async def postprocess(self, result: Batch, headers=None, response_headers=None):
        probs = result.probabilities.astype(np.float32)
        as_list = [float(p) for p in probs]
        # Written before the response (a logged request is never lost), but on a worker thread:
        # a slow log sink must not stall the event loop that serves every other request.
        await asyncio.to_thread(self.request_logger.predictions, request_id=result.request_id,
                                model_name=self.name, model_version=self.version,
                                protocol=result.protocol, features=result.features, predictions=as_list)
        INSTANCES.labels(self.name, self.version).inc(len(as_list))
        hist = PREDICTION.labels(self.name, self.version)
        for p in as_list:
            hist.observe(p)
        if response_headers is not None:
            response_headers["x-request-id"] = result.request_id
            response_headers["x-model-version"] = self.version
        if result.protocol == "v1":
            return {"predictions": as_list, "model_name": self.name, "model_version": self.version}
        output = InferOutput(name=OUTPUT_KEY, shape=[len(as_list)], datatype="FP32")
        binary = bool(result.requested_outputs and result.requested_outputs[0].binary_data)
        output.set_data_from_numpy(probs, binary_data=binary)
        return InferResponse(response_id=result.request_id, model_name=self.name,
                             model_version=self.version, infer_outputs=[output],
                             use_binary_outputs=binary, requested_outputs=result.requested_outputs or None)
