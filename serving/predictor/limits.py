"""Request limits on the predict/infer endpoints, an ASGI middleware in front of KServe's app.

  - a body above `max_body_bytes` gets 413 before it is read: a Content-Length above the limit
    at once, a chunked body as soon as the bytes received pass it (a body within the limit is
    handed on to KServe as one message);
  - at most `max_inflight` requests at a time per process: one more gets 503 with Retry-After
    at once instead of queueing (latency stays bounded; the client or the load balancer retries
    elsewhere);
  - a request not answered within `timeout_s` (body read included, so a slow sender is cut
    off too) gets 504; the model call already running in a thread finishes unseen;
  - another method than POST gets 405 with `Allow: POST` (KServe answers GET on `:predict` 404:
    it reads `<name>:predict` as a model name).

Every answer here is JSON `{"error": ...}` naming the limit and its flag. request_metrics.py's
middleware sits outside this one, so these answers are counted like any other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from prometheus_client import Gauge

from .request_metrics import endpoint

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_INFLIGHT = 64
DEFAULT_REQUEST_TIMEOUT_S = 10.0
RETRY_AFTER_S = 1

INFLIGHT = Gauge(
    "tabml_predictor_inflight_requests",
    "predict/infer requests being answered (summed over worker processes)",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def __post_init__(self):
        for name in ("max_body_bytes", "max_inflight", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"request limit {name} must be > 0, got {getattr(self, name)}")


class _TooLarge(Exception):
    pass


async def _answer(send, status: int, error: str, headers: tuple = ()) -> None:
    body = orjson.dumps({"error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn's parser refuses these before the app sees them
    return None


class RequestLimits:
    """ASGI middleware applying `limits` to the predict/infer paths; other paths pass through."""

    def __init__(self, app, limits: Limits):
        self.app = app
        self.limits = limits
        self.inflight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or endpoint(scope["path"]) is None:
            return await self.app(scope, receive, send)
        if scope["method"] != "POST":
            return await _answer(
                send,
                405,
                f"{scope['method']} is not allowed on {scope['path']}: send the request with POST",
                ((b"allow", b"POST"),),
            )
        limits = self.limits
        length = _content_length(scope)
        if length is not None and length > limits.max_body_bytes:
            return await _answer(send, 413, self._too_large(f"{length} bytes"))
        if self.inflight >= limits.max_inflight:
            return await _answer(
                send,
                503,
                f"server busy: {self.inflight} requests in flight in this worker, the limit "
                f"(--max_inflight); retry after {RETRY_AFTER_S} s",
                ((b"retry-after", str(RETRY_AFTER_S).encode()),),
            )
        self.inflight += 1
        INFLIGHT.inc()
        started = False

        async def send_noting_start(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)  # answering: a slow reader is uvicorn's business
            await send(message)

        try:
            async with asyncio.timeout(limits.timeout_s) as deadline:
                if length is None:  # chunked: count the bytes as they come
                    receive = await self._buffered(receive)
                await self.app(scope, receive, send_noting_start)
        except _TooLarge:
            await _answer(send, 413, self._too_large(f"more than {limits.max_body_bytes} bytes"))
        except TimeoutError:
            if started:
                raise
            await _answer(
                send,
                504,
                f"request not answered within {limits.timeout_s:g} s (the limit, --request_timeout_s)",
            )
        finally:
            self.inflight -= 1
            INFLIGHT.dec()

    def _too_large(self, size: str) -> str:
        return (
            f"request body of {size} is above the limit of {self.limits.max_body_bytes} bytes "
            "(--max_body_bytes / $MAX_BODY_BYTES): send fewer instances per request"
        )

    async def _buffered(self, receive):
        """Reads a body of unknown length up to the limit; returns a receive that replays it."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                first = message
                break
            size += len(message.get("body", b""))
            if size > self.limits.max_body_bytes:
                raise _TooLarge
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        pending = [first]

        async def replay():
            return pending.pop() if pending else await receive()

        return replay
