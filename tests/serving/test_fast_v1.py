"""The lean v1 path (predictor/fast_v1.py) answers exactly as KServe's own v1 route: the same
requests sent to two apps built in this process on the same loaded models, one with the lean
path and one without (--no-fast_v1), give the same status, headers and body, the same request
log lines and the same metric counts; requests the lean path leaves to KServe's route
(CloudEvents, other model names, a client gone) are answered by it."""

from __future__ import annotations

import asyncio
import json
import shutil

import orjson
import pytest
from conftest import BINARY_EXAMPLE, MAX_BATCH, REPO
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from prometheus_client import REGISTRY

from contracts.registry import TRAINING_SCHEMA
from predictor import limits as L
from predictor.logging_setup import QuietRESTServer
from predictor.model import TabularModel
from predictor.server import add_predictor_layers

SCHEMA = REPO / "examples" / BINARY_EXAMPLE / "schema.pbtxt"
MAX_BODY = 300_000
COUNTED, REJECTING = "counting", "rejecting"


class Apps:
    """Two FastAPI apps as server.py builds them, sharing one DataPlane and its models."""

    def __init__(self, models: list[TabularModel]):
        registry = ModelRepository()
        for model in models:
            registry.update(model)
        self.dataplane = DataPlane(model_registry=registry)
        self.decoded = 0  # KServe's route decodes every body it answers
        decode = self.dataplane.decode

        def counting_decode(*args, **kwargs):
            self.decoded += 1
            return decode(*args, **kwargs)

        self.dataplane.decode = counting_decode
        self.models = {m.name: m for m in models}
        self.kserve = self._app(fast=False)
        self.fast = self._app(fast=True)

    def _app(self, fast: bool) -> FastAPI:
        app = FastAPI(default_response_class=ORJSONResponse)  # as kserve.model_server's

        def ready(name):
            model = self.models.get(name)
            return model if model is not None and model.ready else None

        version = lambda name: getattr(self.models.get(name), "version", None)  # noqa: E731
        add_predictor_layers(app, L.Limits(max_body_bytes=MAX_BODY), version, ready if fast else None)
        QuietRESTServer("unused:app", self.dataplane, None, 0).build(app)
        return app


@pytest.fixture(scope="module")
def apps(fixtures, tmp_path_factory):
    fixture = fixtures[BINARY_EXAMPLE]
    version = tmp_path_factory.mktemp("registry") / "model" / fixture.rows["model_version"]
    shutil.copytree(fixture.version_dir, version)
    (version / TRAINING_SCHEMA).parent.mkdir()
    shutil.copy(SCHEMA, version / TRAINING_SCHEMA)
    log = tmp_path_factory.mktemp("request_log")
    models = []
    for name, reject in ((COUNTED, False), (REJECTING, True)):
        model = TabularModel(
            name, str(version), max_batch_size=MAX_BATCH, request_log=str(log), reject_out_of_domain=reject
        )
        model.load()
        model.request_logger.close()  # from now on each line is written by its caller, at once
        models.append(model)
    yield Apps(models)
    for model in models:
        model.stop()


async def _call(app, method: str, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]], disconnect=False):
    """The messages the app sends for one request, and the exception it raised (if any)."""
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        incoming[-1]["more_body"] = True
        incoming.append({"type": "http.disconnect"})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    sent = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # no more: a real client would wait

    async def send(message):
        sent.append(message)

    try:
        await asyncio.wait_for(app(scope, receive, send), 60)
        raised = None
    except Exception as e:  # ServerErrorMiddleware re-raises after its 500
        raised = type(e).__name__
    return sent, raised


def _counts() -> dict:
    """Every counter and histogram count of the predictor and KServe, by labels."""
    out = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name.startswith(("tabml_predictor_", "request_")) and s.name.endswith(("_total", "_count")):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _log_lines(apps: Apps) -> dict[str, list[dict]]:
    """Each model's request log lines."""
    out = {}
    for name, model in apps.models.items():
        with open(model.request_logger.path, encoding="utf-8") as f:
            out[name] = [json.loads(line) for line in f]
    return out


def _exchange(apps: Apps, app, request: dict):
    before, lines_before = _counts(), _log_lines(apps)
    sent, raised = asyncio.run(_call(app, **request))
    after = _counts()
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    lines = [line for name, lines in _log_lines(apps).items() for line in lines[len(lines_before[name]) :]]
    for line in lines:
        line.pop("timestamp"), line.pop("latency_ms", None)
    return sent, raised, delta, lines


def _mask_id(sent: list[dict], generated: bool) -> list[dict]:
    """A generated x-request-id (a fresh random one per request) replaced by its shape."""
    out = []
    for message in sent:
        if generated and message["type"] == "http.response.start":
            headers = []
            for k, v in message["headers"]:
                if k == b"x-request-id":
                    assert len(v) == 32 and all(c in b"0123456789abcdef" for c in v), v
                    v = b"<generated>"
                headers.append((k, v))
            message = {**message, "headers": headers}
        if message["type"] == "http.response.start":  # a CloudEvent answer's own id and time
            headers = [(k, b"<ce>" if k in (b"ce-id", b"ce-time") else v) for k, v in message["headers"]]
            message = {**message, "headers": headers}
        out.append(message)
    return out


def _post(model: str, body, content_type: bytes | None = b"application/json", request_id=None, **extra) -> dict:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = [(b"content-type", content_type)] if content_type else []
    headers.append((b"content-length", str(len(data)).encode()))
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    return {"method": "POST", "path": f"/v1/models/{model}:predict", "chunks": [data], "headers": headers} | extra


def _requests(instances: list[dict]) -> dict[str, dict]:
    rows = (instances * MAX_BATCH)[:64]
    feature = sorted(instances[0])[0]
    first = instances[0]
    cloudevent = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "time": "2026-01-01T00:00:00Z"}
    binary_ce = [(b"ce-specversion", b"1.0"), (b"ce-id", b"1"), (b"ce-source", b"s"), (b"ce-type", b"t")]
    body = orjson.dumps({"instances": rows})
    return {
        "batch of 64": _post(COUNTED, {"instances": rows}, request_id="fast-64"),
        "one row, extra keys ignored": _post(COUNTED, {"instances": [{**first, "label": 1}]}, request_id="fast-1"),
        "generated request id": _post(COUNTED, {"instances": instances[:2]}),
        "no content type": _post(COUNTED, {"instances": instances[:2]}, content_type=None, request_id="no-ct"),
        "text/plain, JSON body": _post(COUNTED, {"instances": instances[:1]}, b"text/plain", request_id="plain"),
        "text/plain, not JSON": _post(COUNTED, b"{nope", b"text/plain", request_id="plain-bad"),
        "not JSON": _post(COUNTED, b'{"instances": [', request_id="bad-json"),
        "NaN": _post(COUNTED, b'{"instances": [{"x": NaN}]}', request_id="nan"),
        "empty batch": _post(COUNTED, {"instances": []}, request_id="empty"),
        "a list body": _post(COUNTED, [first], request_id="list"),
        "no instances": _post(COUNTED, {"rows": [first]}, request_id="no-instances"),
        "missing feature": _post(
            COUNTED, {"instances": [{k: v for k, v in first.items() if k != feature}]}, request_id="missing"
        ),
        "a boolean": _post(COUNTED, {"instances": [{**first, "fare": True}]}, request_id="bool"),
        "an integral float for an integer": _post(
            COUNTED, {"instances": [{**first, "trip_start_hour": 7.0}]}, request_id="int-float"
        ),
        "too many instances": _post(COUNTED, {"instances": (instances * 200)[: MAX_BATCH + 1]}, request_id="many"),
        "out of domain, counted": _post(
            COUNTED, {"instances": [{**first, "fare": -50.0, "trip_start_hour": 99}, first]}, request_id="ood"
        ),
        "out of domain, rejected": _post(
            REJECTING, {"instances": [{**first, "fare": -50.0}]}, request_id="ood-rejected"
        ),
        "body in three messages": _post(COUNTED, b"", request_id="chunks")
        | {"chunks": [body[:100], body[100:2000], body[2000:]]},
        "chunked (no length)": {
            "method": "POST",
            "path": f"/v1/models/{COUNTED}:predict",
            "chunks": [body[:500], body[500:]],
            "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"chunked")],
        },
        "too large (413)": _post(COUNTED, {"instances": (instances * 1000)[:1000]}, request_id="large"),
        "GET (405)": {"method": "GET", "path": f"/v1/models/{COUNTED}:predict", "chunks": [b""], "headers": []},
        "unknown model (404)": _post("nope", {"instances": instances[:1]}, request_id="unknown"),
        "structured CloudEvent": _post(COUNTED, {**cloudevent, "data": {"instances": instances[:1]}}, request_id="ce"),
        "binary CloudEvent": _post(COUNTED, {"instances": instances[:1]}, request_id="ce-binary")
        | {"headers": [(b"content-type", b"application/json"), *binary_ce, (b"x-request-id", b"ce-binary")]},
        "client gone mid-body": _post(COUNTED, {"instances": instances[:1]}, request_id="gone", disconnect=True),
    }


CASES = list(_requests([{"x": 0}]))
# Left to KServe's route by the lean path (CloudEvents), or answered before either path (405,
# 413) or by KServe's route before it decodes the body (404, the client gone).
TO_KSERVE = {"structured CloudEvent", "binary CloudEvent"}
NEITHER = {"GET (405)", "too large (413)", "unknown model (404)", "client gone mid-body"}


@pytest.mark.parametrize("case", CASES)
def test_the_lean_path_answers_as_kserves_route(apps, fixtures, case):
    request = _requests(fixtures[BINARY_EXAMPLE].instances)[case]
    k_sent, k_raised, k_counts, k_lines = _exchange(apps, apps.kserve, request)
    decoded = apps.decoded
    f_sent, f_raised, f_counts, f_lines = _exchange(apps, apps.fast, request)
    generated = not any(k == b"x-request-id" for k, _ in request["headers"])
    assert _mask_id(f_sent, generated) == _mask_id(k_sent, generated)
    assert (f_raised, f_counts) == (k_raised, k_counts)
    if not generated:
        assert f_lines == k_lines
    else:
        assert [line | {"request_id": ""} for line in f_lines] == [line | {"request_id": ""} for line in k_lines]
    if case in TO_KSERVE:
        assert apps.decoded == decoded + 1, "KServe's route should have answered"
    elif case not in NEITHER:
        assert apps.decoded == decoded, "the lean path handed the request to KServe's route"


def test_the_answers_compared_are_the_real_ones(apps, fixtures):
    """The comparison above is only worth something if both answers are right: spot checks."""
    requests = _requests(fixtures[BINARY_EXAMPLE].instances)
    [start, body], _, counts, lines = _exchange(apps, apps.fast, requests["batch of 64"])
    answer = orjson.loads(body["body"])
    assert start["status"] == 200 and len(answer["predictions"]) == 64 and len(lines) == 64
    assert answer["model_name"] == COUNTED and dict(start["headers"])[b"x-request-id"] == b"fast-64"
    assert all(0 <= p <= 1 for p in answer["predictions"])
    [(name, labels)] = [k for k in counts if k[0] == "tabml_predictor_requests_total"]
    assert dict(labels)["code"] == "200" and dict(labels)["protocol"] == "v1"
    assert any(k[0] == "request_predict_seconds_count" for k in counts)  # KServe's own histograms
    [start, body], *_ = _exchange(apps, apps.fast, requests["out of domain, rejected"])
    assert start["status"] == 400 and "fare" in orjson.loads(body["body"])["error"]
    [start, body], *_ = _exchange(apps, apps.fast, requests["not JSON"])
    assert start["status"] == 400 and orjson.loads(body["body"])["error"].startswith("Unrecognized request format")
    _, _, _, lines = _exchange(apps, apps.fast, requests["out of domain, counted"])
    assert [line.get("out_of_domain") for line in lines] == [["fare", "trip_start_hour"], None]


def test_an_unexpected_error_is_answered_500_by_both(apps, fixtures, monkeypatch):
    model = apps.models[COUNTED]

    def broken(arrays):
        raise RuntimeError("boom")

    monkeypatch.setattr(model, "infer", broken)
    request = _requests(fixtures[BINARY_EXAMPLE].instances)["batch of 64"]
    kserve, fast = (_exchange(apps, app, request) for app in (apps.kserve, apps.fast))
    assert kserve[0][0]["status"] == 500 and kserve[1] == "RuntimeError"
    assert fast[:3] == kserve[:3]
