"""Per-request Prometheus metrics of the predict endpoints, by model version and HTTP status.

KServe's own request_{preprocess,predict,postprocess}_seconds carry only model_name, and nothing
counts answers by status, so the error-rate and latency rules (serving/manifests/monitoring)
read these, measured around the whole request (body parsing, the model, the response):

  tabml_predictor_requests_total{model_name, model_version, protocol, code}
  tabml_predictor_request_duration_seconds{model_name, model_version, protocol}   (histogram)

A plain ASGI middleware (no per-request task or body copy): it reads the status off the
response start message, so every answer on those paths is counted whoever produced it: the
predictor's 400s, KServe's JSON parser's 400s, FastAPI's validation 400s (server.py), the
limits' 405/413/503/504 (limits.py, inside this middleware). An exception that escapes the app
(answered 500 by Starlette's outer error middleware) is counted as 500. Requests for a model the
server does not serve are not counted: their names are the client's, an unbounded label set.

With several worker processes (workers.py) prometheus_client runs in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR): `metrics_handler` answers /metrics with the sum over the workers,
whichever worker the scrape reaches.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, exposition, multiprocess
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter(
    "tabml_predictor_requests",
    "predict/infer requests answered, by HTTP status code",
    ["model_name", "model_version", "protocol", "code"],
)
LATENCY = Histogram(
    "tabml_predictor_request_duration_seconds",
    "predict/infer request latency, from the request to the response start",
    ["model_name", "model_version", "protocol"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# KServe's routes: /v1/models/<name>:predict, /v2/models/<name>[/versions/<v>]/infer
_V1 = re.compile(r"/v1/models/([^/:]+):predict")
_V2 = re.compile(r"/v2/models/([^/]+)(?:/versions/[^/]+)?/infer")


def endpoint(path: str) -> tuple[str, str] | None:
    """(model name, protocol) of a predict/infer path, else None."""
    if m := _V1.fullmatch(path):
        return m.group(1), "v1"
    if m := _V2.fullmatch(path):
        return m.group(1), "v2"
    return None


class RequestMetrics:
    """ASGI middleware; `version_of(name)` is the served version of a model, None if not served."""

    def __init__(self, app, version_of: Callable[[str], str | None]):
        self.app = app
        self.version_of = version_of

    async def __call__(self, scope, receive, send):
        where = endpoint(scope["path"]) if scope["type"] == "http" else None  # any method: 405s too
        version = self.version_of(where[0]) if where else None
        if version is None:
            return await self.app(scope, receive, send)
        name, protocol = where
        start = time.perf_counter()
        status, started = 500, False  # 500 unless a response starts: an escaped exception

        async def send_and_note(message):
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                LATENCY.labels(name, version, protocol).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not started:
                LATENCY.labels(name, version, protocol).observe(time.perf_counter() - start)
            REQUESTS.labels(name, version, protocol, str(status)).inc()


def _registry():
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()  # a fresh one per scrape, as prometheus_client prescribes
    multiprocess.MultiProcessCollector(registry)
    return registry


async def metrics_handler(request: Request) -> Response:
    """KServe's /metrics handler, summed over the worker processes in multiprocess mode."""
    encoder, content_type = exposition.choose_encoder(request.headers.get("accept"))
    return Response(content=encoder(_registry()), headers={"content-type": content_type})
