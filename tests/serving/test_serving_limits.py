"""The request limits (predictor/limits.py) and the per-status counters (request_metrics.py) on a
real server: 413 before the body is read, 405 with Allow, 503 + Retry-After when the in-flight
bound is reached, 504 at the timeout; and every rejection path counted in
tabml_predictor_requests_total with its code, protocol and model version, scraped from /metrics."""

from __future__ import annotations

import json
import socket
import time
from contextlib import contextmanager
from urllib.parse import urlparse

import httpx
import pytest
from conftest import BINARY_EXAMPLE, start_server, stop_server
from test_serving_http import v2_body

MAX_BODY = 20_000
TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def limited(fixtures, tmp_path_factory):
    """The binary fixture's predictor with small limits: one request in flight at a time."""
    fixture = fixtures[BINARY_EXAMPLE]
    server = start_server(
        tmp_path_factory.mktemp("limits"),
        fixture.model_base,
        "--max_body_bytes",
        str(MAX_BODY),
        "--max_inflight",
        "1",
        "--request_timeout_s",
        str(TIMEOUT_S),
    )
    yield server, fixture
    stop_server(server.process)


def _sample(text: str, metric: str, labels: dict[str, str]) -> float:
    """The value of `metric` whose labels include `labels` (0 when absent)."""
    for line in text.splitlines():
        if line.startswith((metric + "{", metric + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _error(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.json()["error"]


def _read_response(sock: socket.socket, timeout_s: float) -> tuple[int, dict, str]:
    """(status, headers, body) of one HTTP/1.1 response with a Content-Length, off a raw socket."""
    sock.settimeout(timeout_s)
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            status_line, *header_lines = head.decode().split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in header_lines)
            if len(body) >= int(headers["content-length"]):
                return int(status_line.split()[1]), headers, body.decode()
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk


@contextmanager
def held_request(server):
    """A v1 request whose body never finishes arriving: it holds the one in-flight slot until
    the timeout answers it. Yields a function that reads that answer off the socket."""
    url = urlparse(server.url)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST /v1/models/{server.model_name}:predict HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"instances": [')
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=server.url, timeout=10) as c:
        while _sample(c.get("/metrics").text, "tabml_predictor_inflight_requests", {}) < 1:
            assert time.monotonic() < deadline, "the held request never reached the predictor"
            time.sleep(0.05)

    try:
        yield lambda: _read_response(sock, TIMEOUT_S + 10)
    finally:
        sock.close()


def test_a_body_above_the_limit_gets_413_before_it_is_read(limited):
    server, _ = limited
    url = urlparse(server.url)
    # A gigabyte announced, nothing sent: the answer cannot have waited for the body.
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/models/{server.model_name}:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10**9}\r\n\r\n".encode()
        )
        started = time.monotonic()
        status, _, body = _read_response(sock, 10)
    assert status == 413, body
    assert time.monotonic() - started < 2
    error = json.loads(body)["error"]
    assert f"{10**9} bytes" in error and str(MAX_BODY) in error and "--max_body_bytes" in error
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", content=b"x" * (MAX_BODY + 1))
    assert r.status_code == 413 and "--max_body_bytes" in _error(r)


def test_a_chunked_body_is_counted_as_it_arrives(limited):
    server, fixture = limited
    url = f"/v1/models/{server.model_name}:predict"
    with server.client() as c:
        big = c.post(url, content=iter([b"x" * 1000] * (MAX_BODY // 1000 + 1)))  # no Content-Length
        small = c.post(
            url, content=iter([b'{"instances": ', json.dumps(fixture.instances[:2]).encode(), b"}"]), headers={}
        )
    assert big.status_code == 413 and f"more than {MAX_BODY} bytes" in _error(big)
    assert "content-length" not in big.request.headers and big.request.headers["transfer-encoding"] == "chunked"
    assert small.status_code == 200, small.text  # within the limit: handed on whole
    assert len(small.json()["predictions"]) == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_the_predict_endpoints_get_405(limited, method):
    server, _ = limited
    with server.client() as c:
        for path in (f"/v1/models/{server.model_name}:predict", f"/v2/models/{server.model_name}/infer"):
            r = c.request(method, path)
            assert r.status_code == 405, (path, r.status_code, r.text)
            assert r.headers["allow"] == "POST" and "POST" in _error(r)
        assert c.get(f"/v1/models/{server.model_name}").status_code == 200  # other GETs unchanged


def test_in_flight_bound_sheds_at_once_and_the_timeout_answers_504(limited):
    server, fixture = limited
    with held_request(server) as answer:
        with server.client() as c:
            started = time.monotonic()
            r = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": fixture.instances[:1]})
            shed_s = time.monotonic() - started
            assert c.get("/v2/health/ready").status_code == 200  # health is never shed
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "--max_inflight" in _error(r)
        assert shed_s < 1  # not queued
        status, headers, body = answer()
    assert status == 504, body
    assert "--request_timeout_s" in json.loads(body)["error"] and headers["content-type"] == "application/json"
    with server.client() as c:  # the slot is free again
        assert (
            c.post(f"/v1/models/{server.model_name}:predict", json={"instances": fixture.instances[:1]}).status_code
            == 200
        )


def _rejections(server, fixture):
    """(case, protocol, expected code, a function that sends the request)."""
    v1, v2 = f"/v1/models/{server.model_name}:predict", f"/v2/models/{server.model_name}/infer"
    row = json.dumps(fixture.instances[0])
    as_json = {"content-type": "application/json"}

    def with_literal(literal: bytes) -> bytes:  # a good row plus a key holding `literal`
        return b'{"instances": [' + row[:-1].encode() + b', "x": ' + literal + b"}]}"

    def post(path, body: bytes, headers=None):
        return lambda c: c.post(path, content=body, headers=headers or {})

    return [
        ("answered", "v1", 200, lambda c: c.post(v1, json={"instances": fixture.instances[:1]})),
        ("answered", "v2", 200, lambda c: c.post(v2, json=v2_body(fixture.instances[:1]))),
        # KServe's own JSON parser (content-type JSON): before the predictor sees anything
        ("not JSON", "v1", 400, post(v1, b"not json", as_json)),
        ("NaN", "v1", 400, post(v1, with_literal(b"NaN"), as_json)),
        ("Infinity", "v1", 400, post(v1, with_literal(b"Infinity"), as_json)),
        ("1e999", "v1", 400, post(v1, with_literal(b"1e999"), as_json)),
        # the predictor's own parse (no JSON content-type) and checks
        ("not JSON, text/plain", "v1", 400, post(v1, b"not json")),
        ("empty batch", "v1", 400, lambda c: c.post(v1, json={"instances": []})),
        # FastAPI's validation of a v2 body (422, answered 400 by server.py)
        ("v2 not an object", "v2", 400, post(v2, b"[1, 2]", as_json)),
        ("v2 broken JSON", "v2", 400, post(v2, b'{"inputs": [', as_json)),
        # the limits
        ("GET v1", "v1", 405, lambda c: c.get(v1)),
        ("GET v2", "v2", 405, lambda c: c.get(v2)),
        ("too large", "v1", 413, post(v1, b"x" * (MAX_BODY + 1), as_json)),
        ("too large, chunked", "v2", 413, post(v2, iter([b"x" * MAX_BODY, b"x"]), as_json)),
    ]


def test_every_answer_is_counted_by_code_protocol_and_version(limited):
    server, fixture = limited
    version = fixture.rows["model_version"]
    failures = []
    with server.client() as c:

        def counts(protocol: str, code: int) -> tuple[float, float]:
            text = c.get("/metrics").text
            labels = {"model_name": server.model_name, "model_version": version, "protocol": protocol}
            return (
                _sample(text, "tabml_predictor_requests_total", {**labels, "code": str(code)}),
                _sample(text, "tabml_predictor_request_duration_seconds_count", labels),
            )

        for case, protocol, code, send in _rejections(server, fixture):
            before = counts(protocol, code)
            r = send(c)
            after = counts(protocol, code)
            if r.status_code != code:
                failures.append(f"{case}: answered {r.status_code} {r.text[:200]!r}, expected {code}")
            elif (after[0] - before[0], after[1] - before[1]) != (1, 1):
                failures.append(f"{case}: counter/histogram moved by {after[0] - before[0]}/{after[1] - before[1]}")
    assert not failures, "\n".join(failures)


def test_shed_and_timed_out_requests_are_counted(limited):
    server, fixture = limited
    version = fixture.rows["model_version"]
    labels = {"model_name": server.model_name, "model_version": version, "protocol": "v1"}

    def count(code: int) -> float:
        return _sample(
            httpx.get(f"{server.url}/metrics").text, "tabml_predictor_requests_total", {**labels, "code": str(code)}
        )

    before = count(503), count(504)
    with held_request(server) as answer:
        with server.client() as c:
            assert c.post(f"/v1/models/{server.model_name}:predict", json={"instances": []}).status_code == 503
        assert answer()[0] == 504
    assert (count(503) - before[0], count(504) - before[1]) == (1, 1)
