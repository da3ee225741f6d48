"""The hot path: POST /v1/models/<name>:predict answered without FastAPI's routing.

KServe's v1 route costs, per request and on the event loop's thread, FastAPI's route matching
over every KServe route, its dependency solving, a Request object, the dataplane's decode and
encode and a Starlette response, on top of the model's own work (measured in serving/README.md
"Performance (under load)"). This ASGI middleware sits inside request_metrics.py's and
limits.py's (so its answers are counted, limited and timed out the same) and answers the
common case itself, with the same steps as KServe's route:

  - the model is called as KServe's dataplane calls it (kserve.Model.__call__: KServe's
    request_*_seconds histograms, the predictor's preprocess / predict / postprocess), with
    the request headers as the dict KServe builds;
  - the body is parsed as KServe's decode does (orjson; the same 400 message), or handed over
    raw when the content type is not JSON (model.py parses it);
  - the answer has the body and headers of KServe's ORJSONResponse (orjson with its options;
    the model's response headers, then content-length and content-type);
  - the predictor's errors are answered by the app's own exception handlers (KServe's 400 /
    404 / 503 JSON); another exception escapes to Starlette's ServerErrorMiddleware, as it
    does from KServe's route.

Everything else goes on to KServe's route unchanged (the body, if read, replayed): another
path or model name, a model not ready, CloudEvents (binary ce-* headers, a
cloudevents+json content type, a structured CloudEvent body), a client gone mid-body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson
from cloudevents.sdk.converters.util import has_binary_headers
from kserve.errors import InvalidInput
from kserve.protocol.dataplane import JSON_HEADERS
from kserve.utils.utils import is_structured_cloudevent
from starlette.requests import Request

_PREFIX, _SUFFIX = "/v1/models/", ":predict"
_CLOUDEVENT_JSON = "application/cloudevents+json"
# What KServe's ORJSONResponse (FastAPI) passes to orjson.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class _PassOn(Exception):
    """Not ours to answer: KServe's route takes the request."""


class FastV1:
    """ASGI middleware; `model_of(name)` is the served model of that name if ready, else None."""

    def __init__(self, app, model_of: Callable[[str], object | None]):
        self.app = app
        self.model_of = model_of

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(_PREFIX)
            or not path.endswith(_SUFFIX)
        ):
            return await self.app(scope, receive, send)
        model = self.model_of(path[len(_PREFIX) : -len(_SUFFIX)])
        if model is None:
            return await self.app(scope, receive, send)
        # dict(request.headers.items()), as KServe's route builds it
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type")
        if content_type == _CLOUDEVENT_JSON or has_binary_headers(headers):
            return await self.app(scope, receive, send)
        messages, body = await _read_body(receive)
        try:
            if body is None:  # the client went away: KServe's route meets the same
                raise _PassOn
            try:
                response, response_headers = await self._infer(model, body, headers, content_type)
            except _PassOn:
                raise
            except Exception as exc:
                handler = _handler(scope, exc)
                if handler is None:
                    raise  # to ServerErrorMiddleware: 500, logged, as from KServe's route
                answer = await handler(Request(scope, receive), exc)
                return await answer(scope, receive, send)
        except _PassOn:
            return await self.app(scope, _replay(messages, receive), send)
        await _send_json(send, response, response_headers)

    async def _infer(self, model, body: bytes, headers: dict, content_type: str | None):
        """KServe's dataplane decode -> model -> encode, for a v1 JSON body."""
        if content_type is not None and content_type not in JSON_HEADERS:
            payload = body  # KServe hands a body of another type over raw
        else:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                raise InvalidInput(f"Unrecognized request format: {e}") from None
            if isinstance(payload, dict) and is_structured_cloudevent(payload):
                raise _PassOn
        response, response_headers = await model(payload, headers=headers)
        if isinstance(response, (bytes, str, AsyncIterator)):  # KServe's route sends these as they are
            raise TypeError(f"the lean v1 path answers JSON, the model returned {type(response).__name__}")
        return response, response_headers


async def _read_body(receive) -> tuple[list[dict], bytes | None]:
    """The request messages as received, and the body (None if the client disconnected)."""
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(messages: list[dict], receive):
    pending = list(reversed(messages))

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def _handler(scope, exc: Exception):
    """The app's handler for `exc` (Starlette's lookup by class), except the catch-all: an
    exception without its own handler goes to ServerErrorMiddleware, as from a route."""
    handlers = getattr(scope.get("app"), "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


async def _send_json(send, response, response_headers: dict) -> None:
    """ORJSONResponse(content=response, headers=response_headers) less content-length, as KServe."""
    body = orjson.dumps(response, option=_ORJSON_OPTIONS)
    raw = [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.items() if k != "content-length"
    ]
    keys = {k for k, _ in raw}
    if b"content-length" not in keys:
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
    if b"content-type" not in keys:
        raw.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": body})
