"""Command line: serve a pushed model with KServe's model server.

    tabml-serve --model_dir artifacts/registry/<model_name>                 # latest version
    tabml-serve --model_dir /mnt/models --model_name <model_name>           # in the image

Takes every kserve.ModelServer option (--http_port, --grpc_port, --enable_grpc, ...) plus the
ones below. `--workers N` runs N processes on the port, each loading the model (workers.py).
Limits on the predict endpoints (limits.py): --max_body_bytes (413), --max_inflight (503 with
Retry-After), --request_timeout_s (504); another method than POST gets 405. The model is called
on one thread per process unless --max_asyncio_workers (or $MAX_ASYNCIO_WORKERS) says more.
Endpoints (KServe's own, on --http_port; v1 :predict answered on a lean path with the same
answers, fast_v1.py, unless --no-fast_v1):
  GET  /                                   liveness  {"status": "alive"}
  GET  /v2/health/live, /v2/health/ready   server liveness / readiness
  GET  /v1/models/<name>, /v2/models/<name>/ready   model readiness
  GET  /v2/models/<name>                   model metadata (inputs, the task's outputs)
  POST /v1/models/<name>:predict           {"instances": [{raw features}, ...]}
  POST /v2/models/<name>/infer             Open Inference Protocol, one input per feature
The answers per task (binary, multiclass, regression): predictor/tasks.py.
  GET  /metrics                            Prometheus (KServe's, model.py's and request_metrics.py's)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from http import HTTPStatus

import kserve
import uvicorn
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kserve import model_server as kms
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.logging import KSERVE_LOGGER_NAME, configure_logging
from kserve.protocol.rest.server import RESTServer

from . import limits as L
from . import logging_setup
from . import workers as W
from .fast_v1 import FastV1
from .request_metrics import RequestMetrics, metrics_handler

DEFAULT_MODEL_NAME = "model"  # kserve's own default for --model_name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tabml-serve",
        parents=[kms.parser],
        description="Serve a pushed tabml SavedModel (serving_raw; binary, multiclass or regression) with KServe.",
    )
    parser.add_argument(
        "--model_dir",
        default=os.environ.get("MODEL_DIR", "/mnt/models"),
        help="a version directory, or a model base path <registry>/<model_name> "
        "(the highest version with model_metadata.json is served); local or gs://. "
        "Default: $MODEL_DIR or /mnt/models (where KServe's storage "
        "initializer puts storageUri)",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("SERVING_HOST", "0.0.0.0"),
        help="address the REST server binds (127.0.0.1 for local use)",
    )
    parser.add_argument(
        "--max_batch_size",
        type=int,
        default=os.environ.get("MAX_BATCH_SIZE"),  # None: model.py's default (not imported here:
        # the --workers supervisor never loads TensorFlow)
        help="instances per request above which the request gets a 400 (default $MAX_BATCH_SIZE or 1024)",
    )
    parser.add_argument(
        "--max_body_bytes",
        type=int,
        default=int(os.environ.get("MAX_BODY_BYTES", L.DEFAULT_MAX_BODY_BYTES)),
        help="request body size above which a predict request gets a 413, before the body is read "
        "(default $MAX_BODY_BYTES or 8 MiB)",
    )
    parser.add_argument(
        "--max_inflight",
        type=int,
        default=int(os.environ.get("MAX_INFLIGHT", L.DEFAULT_MAX_INFLIGHT)),
        help="predict requests answered at once per worker process; one more gets 503 with Retry-After "
        "(default $MAX_INFLIGHT or 64)",
    )
    parser.add_argument(
        "--request_timeout_s",
        type=float,
        default=float(os.environ.get("REQUEST_TIMEOUT_S", L.DEFAULT_REQUEST_TIMEOUT_S)),
        help="seconds after which an unanswered predict request gets a 504, body read included "
        "(default $REQUEST_TIMEOUT_S or 10)",
    )
    parser.add_argument(
        "--request_log",
        default=os.environ.get("REQUEST_LOG", ""),
        help="JSON-lines request log: a .jsonl file or a directory (empty: no request log)",
    )
    parser.add_argument(
        "--reject_out_of_domain",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=os.environ.get("REJECT_OUT_OF_DOMAIN", "").lower() in ("1", "true", "yes"),
        help="answer 400 to values outside the training schema's domains "
        "(default $REJECT_OUT_OF_DOMAIN, else false: count them and mark them in the request log)",
    )
    parser.add_argument(
        "--fast_v1",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("FAST_V1", "1").strip().lower() not in ("0", "false", "no", "off"),
        help="answer v1 :predict on the lean path (fast_v1.py), the same answers as KServe's route "
        "with less Python per request; --no-fast_v1 leaves every request to KServe's route "
        "(default $FAST_V1 or on)",
    )
    logging_setup.add_arguments(parser)
    # KServe's flag sizes the event loop's thread pool, which here runs only the model calls
    # (TabularModel.predict). One thread by default: a process's calls then never contend for
    # its GIL (TensorFlow parallelises within a call; --workers adds processes), measured 0.1 ms
    # less CPU per 64-row batch than KServe's default of CPUs + 4 (serving/README.md).
    parser.set_defaults(max_asyncio_workers=int(os.environ.get("MAX_ASYNCIO_WORKERS", 1)))
    return parser


async def _validation_error_as_400(_, exc: RequestValidationError):
    """FastAPI answers a body it cannot parse (v2 infer) with 422; the contract here is 400."""
    problems = []
    errors = [e for e in exc.errors() if "bytes" not in e.get("loc", ())] or exc.errors()
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "InferenceRequest"))
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    message = "malformed request: " + "; ".join(problems or ["invalid body"])
    return JSONResponse(status_code=HTTPStatus.BAD_REQUEST, content={"error": message})


def add_predictor_layers(app, limits: L.Limits, version_of, fast_model_of=None) -> None:
    """The predictor's own route and middlewares on KServe's FastAPI app, before KServe adds its
    own (RESTServer.create_application): the first /metrics route wins, and the middleware
    added last is the outermost, so the metrics see every answer (the limits', the lean v1
    path's, KServe's routes') and the limits apply to both paths. `fast_model_of(name)`: the
    ready model the lean v1 path answers for (None: every request goes to KServe's route)."""
    app.add_exception_handler(RequestValidationError, _validation_error_as_400)
    app.add_api_route("/metrics", metrics_handler, methods=["GET"])
    if fast_model_of is not None:
        app.add_middleware(FastV1, model_of=fast_model_of)
    app.add_middleware(L.RequestLimits, limits=limits)
    app.add_middleware(RequestMetrics, version_of=version_of)


class TabularModelServer(kserve.ModelServer):
    """kserve.ModelServer whose REST server binds `host` (KServe binds 0.0.0.0), applies `limits`,
    counts every predict answer and answers v1 :predict on the lean path (`fast_v1`); one process
    (`--workers` is workers.py's)."""

    def __init__(self, host: str = "0.0.0.0", limits: L.Limits | None = None, fast_v1: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.host = host
        self.limits = limits or L.Limits()
        self.fast_v1 = fast_v1

    def _served_version(self, name: str) -> str | None:
        model = self.registered_models.get_model(name)
        return None if model is None else getattr(model, "version", "")

    def _ready_model(self, name: str):
        model = self.registered_models.get_model(name)
        return model if model is not None and model.ready else None

    async def _serve_on_shared_port(self, rest: RESTServer) -> None:
        """A worker of several (workers.py): the port bound with SO_REUSEPORT, after the model loaded."""
        sock = W.reuse_port_socket(self.host, self.http_port)
        rest.create_application()
        await uvicorn.Server(rest.config).serve(sockets=[sock])

    def start(self, models) -> None:
        if self.workers > 1:
            raise ValueError("TabularModelServer runs one process: --workers is predictor.workers.supervise's")
        self._register_and_check_atleast_one_model_is_ready(models)
        add_predictor_layers(kms.app, self.limits, self._served_version, self._ready_model if self.fast_v1 else None)
        self._rest_server = logging_setup.QuietRESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
        )
        self._rest_server.config.host = self.host
        if W.is_worker():
            self.servers.append(self._serve_on_shared_port(self._rest_server))
        else:
            self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = kms.GRPCServer(
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs=vars(kms.args),
                grace_period=self.grace_period,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.register_signal_handler()
        self.run_on_event_loop(self._serve())

    def run_on_event_loop(self, main) -> None:
        """Runs the coroutine `main` on a fresh event loop (uvloop's, _loop_factory) set up as
        KServe sets up its own: setup_event_loop gives the loop KServe's exception handler and
        the --max_asyncio_workers thread pool that runs the model. It configures the current
        event loop, which a runner's loop from a factory is not until it is made so."""
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            asyncio.set_event_loop(runner.get_loop())
            try:
                self.setup_event_loop()
                runner.run(main)
            finally:
                asyncio.set_event_loop(None)


def _loop_factory():
    """uvloop's event loop when installed (uvicorn[standard], a KServe dependency, brings it):
    less of the event loop's own Python per request than asyncio's. $EVENT_LOOP=asyncio keeps
    asyncio's."""
    if os.environ.get("EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        limits = L.Limits(args.max_body_bytes, args.max_inflight, args.request_timeout_s)
    except ValueError as e:
        parser.error(f"{e}: give a positive --max_body_bytes, --max_inflight and --request_timeout_s")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.configure_logging and not logging.getLogger(KSERVE_LOGGER_NAME).handlers:
        # Before the model loads, so that its "serving <name> version <v> (<task>)" line is
        # logged; ModelServer then finds the logger configured and leaves it.
        configure_logging(args.log_config_file)
    logging_setup.configure(args.access_log)  # in every worker process: each runs main()
    if args.workers > 1:
        # Not KServe's --workers (it pickles the loaded model): N processes that each load it.
        sys.exit(W.supervise(argv, args.workers))
    # Here, not at the top: the --workers supervisor never imports TensorFlow (memory per pod).
    from .model import DEFAULT_MAX_BATCH_SIZE, TabularModel
    from .model_dir import resolve

    name = args.model_name
    if name == DEFAULT_MODEL_NAME:  # not given: the name the Pusher recorded
        name = resolve(args.model_dir).metadata.get("model_name") or DEFAULT_MODEL_NAME
    model = TabularModel(
        name,
        args.model_dir,
        max_batch_size=args.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
        request_log=args.request_log or None,
        reject_out_of_domain=args.reject_out_of_domain,
        request_log_sample=args.request_log_sample,
    )
    model.load()
    TabularModelServer(
        host=args.host,
        limits=limits,
        fast_v1=args.fast_v1,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        max_threads=args.max_threads,
        max_asyncio_workers=args.max_asyncio_workers,
        enable_grpc=args.enable_grpc,
        enable_docs_url=args.enable_docs_url,
        enable_latency_logging=args.enable_latency_logging,
        access_log_format=args.access_log_format,
    ).start([model])


if __name__ == "__main__":
    main()
