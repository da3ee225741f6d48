"""The server's own text logs, kept off the request path.

KServe 0.15 writes, per request: uvicorn's access line, two `kserve.trace` lines from its
TimingMiddleware (wall and CPU time of the route) and, with --enable_latency_logging (on by
default), a third trace line with the preprocess/predict/postprocess times: 4 lines and four
formatted log records per request on the event loop's thread. The same timings are on
/metrics (KServe's request_*_seconds, request_metrics.py's per-status histogram), and the
request log (request_log.py) records each request, so by default:

  - `kserve.trace` is silenced (its lines and the f-strings behind them mostly: a disabled
    logger returns before formatting), and KServe's TimingMiddleware is left out of the app
    (QuietRESTServer: it also resolves each request's route name a second time);
  - uvicorn's access log is off; `--access_log` (or $ACCESS_LOG=1) turns it on: then exactly
    one line per request.

Startup, model loading and errors are logged as before (`kserve`, `uvicorn.error`).
"""

from __future__ import annotations

import argparse
import logging
import os

from kserve.logging import KSERVE_TRACE_LOGGER_NAME
from kserve.protocol.rest.server import RESTServer
from timing_asgi import TimingMiddleware

from .request_log import SAMPLE_ENV, sample_rate

ACCESS_LOG_ENV = "ACCESS_LOG"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--access_log and --request_log_sample, with their environment defaults."""
    parser.add_argument(
        "--access_log",
        action=argparse.BooleanOptionalAction,
        default=_flag(os.environ.get(ACCESS_LOG_ENV)),
        help=f"uvicorn's access log, one line per request (default ${ACCESS_LOG_ENV} or off)",
    )
    parser.add_argument(
        "--request_log_sample",
        type=sample_rate,
        default=sample_rate(None),
        help=f"share of predicted requests written to --request_log, 0..1, per request id "
        f"(default ${SAMPLE_ENV} or 1; rejected requests are always logged)",
    )


def configure(access_log: bool = False) -> None:
    """After kserve.logging.configure_logging (it sets these loggers to INFO); in each process."""
    logging.getLogger(KSERVE_TRACE_LOGGER_NAME).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if access_log else logging.WARNING)


def without_timing_middleware(app) -> None:
    """Drops KServe's TimingMiddleware from a Starlette app whose middleware stack is not built yet."""
    app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not TimingMiddleware]


class QuietRESTServer(RESTServer):
    """KServe's RESTServer without its TimingMiddleware (its only output is kserve.trace lines)."""

    def _add_middlewares(self, app) -> None:
        super()._add_middlewares(app)
        without_timing_middleware(app)

    def build(self, app) -> None:
        """What create_application does to kserve.model_server.app, on another FastAPI app
        (a test's own, to compare two configurations in one process)."""
        self._add_middlewares(app)
        self._register_endpoints(app)
        self._add_exception_handlers(app)
