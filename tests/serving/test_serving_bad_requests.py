"""Every malformed request gets HTTP 400 with a message naming the problem, never a 500.

The full list runs against the binary (taxi) model; the checks that depend on the task (the
outputs a v2 request may ask for) and a few others run against every task's model."""

from __future__ import annotations

import copy

import pytest
from conftest import MAX_BATCH, each_task
from test_serving_http import v2_body


def _with(instance: dict, **changes) -> dict:
    out = dict(instance)
    for key, value in changes.items():
        if value is _DROP:
            out.pop(key)
        else:
            out[key] = value
    return out


_DROP = object()


def v1_cases(good: dict):
    return {
        "missing feature": ({"instances": [good, _with(good, fare=_DROP)]}, ["instances[1]", "'fare'"]),
        "two missing features": (
            {"instances": [_with(good, company=_DROP, trip_miles=_DROP)]},
            ["'company'", "'trip_miles'"],
        ),
        "null value": ({"instances": [_with(good, trip_seconds=None)]}, ["'trip_seconds'", "null"]),
        "string for a float": ({"instances": [_with(good, fare="twelve")]}, ["'fare'", "number", "'twelve'"]),
        "fraction for an int64": ({"instances": [_with(good, trip_start_hour=7.5)]}, ["'trip_start_hour'", "integer"]),
        "number for a string": ({"instances": [_with(good, payment_type=3)]}, ["'payment_type'", "string"]),
        "bool for a number": ({"instances": [_with(good, trip_miles=True)]}, ["'trip_miles'", "bool"]),
        "list for a number": ({"instances": [_with(good, fare=[1.0, 2.0])]}, ["'fare'", "list"]),
        "empty batch": ({"instances": []}, ["empty batch"]),
        "oversized batch": (
            {"instances": [good] * (MAX_BATCH + 1)},
            [f"{MAX_BATCH + 1} instances", f"maximum is {MAX_BATCH}"],
        ),
        "instances not a list": ({"instances": good}, ['"instances" must be a list']),
        "instance not an object": ({"instances": [good, [1, 2, 3]]}, ["instances[1]", "object"]),
        "no instances key": ({"inputs": [good]}, ['no "instances"']),
        "body is a list": ([good], ["JSON object", "list"]),
    }


def test_v1_bad_requests_get_400_naming_the_problem(server, rows):
    good = rows["instances"][0]
    url = f"/v1/models/{server.model_name}:predict"
    failures = []
    with server.client() as c:
        for case, (body, expected) in v1_cases(good).items():
            r = c.post(url, json=body)
            error = (
                r.json().get("error", "")
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            if r.status_code != 400 or not all(e in error for e in expected):
                failures.append(f"{case}: {r.status_code} {error!r}, expected 400 naming {expected}")
        assert c.post(url, json={"instances": [good]}).status_code == 200  # the good row itself passes
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"instances": [{"fare": 1.0', "application/json"),
        (b'{"instances": [{"fare": 1.0', "text/plain"),
        (b"", "application/json"),
        (b"not json at all", None),
    ],
)
def test_v1_malformed_json_gets_400(server, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    with server.client() as c:
        r = c.post(f"/v1/models/{server.model_name}:predict", content=body, headers=headers)
    assert r.status_code == 400, r.text
    error = r.json()["error"].lower()
    assert "json" in error or "unrecognized request format" in error


def test_v2_bad_requests_get_400_naming_the_problem(server, rows):
    instances = rows["instances"][:3]
    good = v2_body(instances)
    url = f"/v2/models/{server.model_name}/infer"

    def edit(fn):
        body = copy.deepcopy(good)
        fn(body)
        return body

    def by_name(body, name):
        return next(i for i in body["inputs"] if i["name"] == name)

    cases = {
        "missing feature": (edit(lambda b: b["inputs"].remove(by_name(b, "fare"))), ["'fare'", "missing"]),
        "wrong datatype": (
            edit(lambda b: by_name(b, "company").update(datatype="FP32")),
            ["'company'", "FP32", "BYTES"],
        ),
        "string in a numeric input": (
            edit(lambda b: by_name(b, "fare").update(data=["a", "b", "c"], datatype="FP32")),
            ["'fare'", "number"],
        ),
        "fraction in an INT64 input": (
            edit(lambda b: by_name(b, "trip_seconds").update(data=[1, 2.5, 3])),
            ["'trip_seconds'[1]", "integer"],
        ),
        "null value": (edit(lambda b: by_name(b, "company").update(data=["a", None, "c"])), ["'company'", "null"]),
        "shape and data disagree": (edit(lambda b: by_name(b, "fare").update(data=[1.0, 2.0])), ["'fare'", "2 values"]),
        "batch sizes disagree": (
            edit(lambda b: by_name(b, "fare").update(shape=[2], data=[1.0, 2.0])),
            ["'fare'", "batch size 2"],
        ),
        "bad rank": (edit(lambda b: by_name(b, "fare").update(shape=[1, 3])), ["'fare'", "shape"]),
        "empty batch": (
            v2_body([{k: v for k, v in instances[0].items()}])
            | {"inputs": [dict(i, shape=[0], data=[]) for i in good["inputs"]]},
            ["empty batch"],
        ),
        "oversized batch": (
            v2_body(rows["instances"][:1] * (MAX_BATCH + 1)),
            [f"{MAX_BATCH + 1} instances", f"maximum is {MAX_BATCH}"],
        ),
        "unknown output": (edit(lambda b: b.update(outputs=[{"name": "logits"}])), ["'logits'", "probabilities"]),
        "inputs not a list": ({"inputs": "fare"}, ["malformed request", "inputs"]),
        "no inputs": ({"id": "x"}, ["malformed request", "inputs"]),
    }
    failures = []
    with server.client() as c:
        for case, (body, expected) in cases.items():
            r = c.post(url, json=body)
            error = (
                r.json().get("error", "")
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            if r.status_code != 400 or not all(e in error for e in expected):
                failures.append(f"{case}: {r.status_code} {error!r}, expected 400 naming {expected}")
        assert c.post(url, json=good).status_code == 200
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("body", [b'{"inputs": [{"name": "fare"', b"", b"[1, 2"])
def test_v2_malformed_json_gets_400(server, body):
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "malformed request" in r.json()["error"]


@pytest.mark.parametrize(
    "name, literal", [("trip_start_hour", "1" + "0" * 400), ("fare", "1" + "0" * 400), ("fare", "1e39")]
)
def test_numbers_beyond_the_inputs_range_get_400(server, rows, name, literal):
    """A huge integer literal or a float beyond float32: a 400 naming the feature, not a 500
    (OverflowError) or an inf fed to the model."""
    import json

    body = v2_body(rows["instances"][:1])
    for tensor in body["inputs"]:
        if tensor["name"] == name:
            tensor["data"] = ["LITERAL"]
    text = json.dumps(body).replace('"LITERAL"', literal)
    with server.client() as c:
        r = c.post(
            f"/v2/models/{server.model_name}/infer", content=text.encode(), headers={"content-type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert f"'{name}'" in r.json()["error"]


def test_zero_workers_is_a_usage_error():
    from predictor.server import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--model_dir", "/nonexistent", "--workers", "0"])
    assert exit_info.value.code == 2


@each_task
def test_every_task_answers_bad_requests_with_400(servers, fixtures, example):
    server, fixture = servers[example], fixtures[example]
    outputs = {"binary": ["probabilities"], "multiclass": ["probabilities", "classes"], "regression": ["predictions"]}[
        fixture.task
    ]
    good = fixture.instances[0]
    feature = sorted(good)[0]
    numeric = next(n for n, v in sorted(good.items()) if isinstance(v, float))
    v1, v2 = f"/v1/models/{server.model_name}:predict", f"/v2/models/{server.model_name}/infer"
    cases = [
        # a v2 output the model does not have: the 400 names the ones it has
        (
            v2,
            v2_body([good]) | {"outputs": [{"name": "logits"}]},
            ["'logits'", fixture.task] + [f"'{o}'" for o in outputs],
        ),
        (v2, v2_body([good]) | {"outputs": [{"name": outputs[0]}, {"name": "scores"}]}, ["'scores'"]),
        (v1, {"instances": [{k: v for k, v in good.items() if k != feature}]}, ["instances[0]", f"'{feature}'"]),
        (v1, {"instances": [good | {numeric: "text"}]}, [f"'{numeric}'", "number"]),
        (v1, {"instances": []}, ["empty batch"]),
    ]
    failures = []
    with server.client() as c:
        for url, body, expected in cases:
            r = c.post(url, json=body)
            error = (
                r.json().get("error", "")
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            if r.status_code != 400 or not all(e in error for e in expected):
                failures.append(f"{url} {body}: {r.status_code} {error!r}, expected 400 naming {expected}")
        # every output the task has may be asked for
        r = c.post(v2, json=v2_body([good]) | {"outputs": [{"name": o} for o in outputs]})
        assert r.status_code == 200, r.text
        assert [o["name"] for o in r.json()["outputs"]] == outputs
    assert not failures, "\n".join(failures)
