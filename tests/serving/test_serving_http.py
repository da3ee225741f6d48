"""The predictor over real HTTP (KServe's REST server on 127.0.0.1), one server per task: v1 and
v2 answers equal the SavedModel's own (`serving_raw` in-process here, `serving_default` in the
pipeline env), health/readiness/metadata/metrics answer, request logs are written."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import time

import numpy as np
import pytest
from conftest import each_task

ATOL = 1e-6
# Inputs per example: how many, and one of each kind.
INPUTS = {
    "chicago_taxi": (15, {"fare": "FP32", "trip_seconds": "INT64", "company": "BYTES"}),
    "penguins": (6, {"bill_length_mm": "FP32", "body_mass_g": "INT64", "island": "BYTES"}),
    "auto_mpg": (7, {"Displacement": "FP32", "Cylinders": "INT64", "Origin": "BYTES"}),
}
PENGUIN_CLASSES = ["Adelie", "Chinstrap", "Gentoo"]

by_example = each_task


def v2_body(instances: list[dict], request_id: str | None = None) -> dict:
    """Open Inference Protocol: one [batch] input per raw feature."""
    kinds = {int: "INT64", float: "FP32", str: "BYTES"}
    inputs = [
        {
            "name": name,
            "shape": [len(instances)],
            "datatype": kinds[type(first)],
            "data": [inst[name] for inst in instances],
        }
        for name, first in instances[0].items()
    ]
    body = {"inputs": inputs}
    if request_id:
        body["id"] = request_id
    return body


def v2_outputs(body: dict) -> dict[str, np.ndarray]:
    """A v2 JSON response's outputs as arrays of their shapes."""
    out = {}
    for o in body["outputs"]:
        dtype = object if o["datatype"] == "BYTES" else np.float64
        out[o["name"]] = np.asarray(o["data"], dtype=dtype).reshape(o["shape"])
    return out


def assert_v1_matches(task: str, predictions: list, outputs: dict) -> None:
    """v1 `predictions` against a signature's outputs ({name: array or nested list})."""
    if task == "binary":
        got = np.asarray(predictions, dtype=np.float64)
        np.testing.assert_allclose(got, outputs["probabilities"], rtol=0, atol=ATOL)
        assert np.all((got >= 0) & (got <= 1))
    elif task == "regression":
        got = np.asarray(predictions, dtype=np.float64)
        assert all(isinstance(v, float) and math.isfinite(v) for v in predictions)
        np.testing.assert_allclose(got, outputs["predictions"], rtol=0, atol=ATOL * max(1, np.abs(got).max()))
    else:
        probabilities, classes = np.asarray(outputs["probabilities"]), np.asarray(outputs["classes"], dtype=object)
        assert len(predictions) == len(probabilities)
        for item, row, names in zip(predictions, probabilities, classes, strict=True):
            assert set(item) == {"class", "probabilities"}
            assert list(item["probabilities"]) == list(names)  # in the model's class order
            values = np.asarray(list(item["probabilities"].values()))
            np.testing.assert_allclose(values, row, rtol=0, atol=ATOL)
            assert values.sum() == pytest.approx(1, abs=1e-5)
            assert (
                item["class"] == names[int(np.argmax(row))] == max(item["probabilities"], key=item["probabilities"].get)
            )


def assert_v2_matches(task: str, got: dict[str, np.ndarray], outputs: dict) -> None:
    if task == "multiclass":
        assert set(got) == {"probabilities", "classes"}
        np.testing.assert_allclose(got["probabilities"], np.asarray(outputs["probabilities"]), rtol=0, atol=ATOL)
        np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1, atol=1e-5)
        assert got["classes"].tolist() == np.asarray(outputs["classes"], dtype=object).tolist()
    else:
        name = "probabilities" if task == "binary" else "predictions"
        assert set(got) == {name}
        np.testing.assert_allclose(got[name], outputs[name], rtol=0, atol=ATOL * max(1, np.abs(got[name]).max()))


@by_example
def test_liveness_readiness_and_metadata(servers, fixtures, example):
    server, fixture = servers[example], fixtures[example]
    name = fixture.rows["model_name"]
    with server.client() as c:
        assert c.get("/").json() == {"status": "alive"}
        assert c.get("/v2/health/live").json() == {"live": True}
        assert c.get("/v2/health/ready").json() == {"ready": True}
        assert c.get("/v1/models").json() == {"models": [name]}
        assert c.get(f"/v1/models/{name}").json() == {"name": name, "ready": True}
        assert c.get(f"/v2/models/{name}/ready").json()["ready"] is True
        meta = c.get(f"/v2/models/{name}").json()
        assert c.get("/v1/models/no_such_model").status_code == 404
    inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
    count, some = INPUTS[example]
    assert len(inputs) == count and some.items() <= inputs.items()
    assert (
        meta["outputs"]
        == {
            "binary": [{"name": "probabilities", "datatype": "FP32", "shape": [-1]}],
            "multiclass": [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
                {"name": "classes", "datatype": "BYTES", "shape": [-1, 3]},
            ],
            "regression": [{"name": "predictions", "datatype": "FP32", "shape": [-1]}],
        }[fixture.task]
    )


@by_example
def test_v1_batch_equals_the_savedmodel(servers, fixtures, direct, example):
    server, fixture = servers[example], fixtures[example]
    instances = fixture.instances
    with server.client() as c:
        r = c.post(
            f"/v1/models/{server.model_name}:predict",
            json={"instances": instances},
            headers={"x-request-id": f"v1-batch-{example}"},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == fixture.rows["model_version"] == r.headers["x-model-version"]
    assert r.headers["x-request-id"] == f"v1-batch-{example}"
    assert len(body["predictions"]) == len(instances) > 50
    assert_v1_matches(fixture.task, body["predictions"], direct.predict(example, instances))
    # ... and equal to serving_default on ExampleGen's tf.Examples, computed in the pipeline env.
    assert_v1_matches(fixture.task, body["predictions"], fixture.expected)


def test_answers_are_not_constant(servers, fixtures):
    """The fixtures' models learned something: their answers vary over the rows."""
    with servers["chicago_taxi"].client() as c:
        p = c.post(
            f"/v1/models/{servers['chicago_taxi'].model_name}:predict",
            json={"instances": fixtures["chicago_taxi"].instances},
        ).json()["predictions"]
    assert np.std(p) > 0.05
    with servers["penguins"].client() as c:
        items = c.post(
            f"/v1/models/{servers['penguins'].model_name}:predict", json={"instances": fixtures["penguins"].instances}
        ).json()["predictions"]
    assert {i["class"] for i in items} == set(PENGUIN_CLASSES)
    with servers["auto_mpg"].client() as c:
        values = c.post(
            f"/v1/models/{servers['auto_mpg'].model_name}:predict", json={"instances": fixtures["auto_mpg"].instances}
        ).json()["predictions"]
    assert 5 < min(values) < max(values) < 60 and np.std(values) > 2  # miles per gallon


@by_example
def test_v1_single_rows_equal_the_batch(servers, fixtures, direct, example):
    server, fixture = servers[example], fixtures[example]
    instances = fixture.instances[:6]
    batch = direct.predict(example, instances)
    with server.client() as c:
        for i, instance in enumerate(instances):
            r = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": [instance]})
            assert r.status_code == 200, r.text
            assert_v1_matches(fixture.task, r.json()["predictions"], {k: v[i : i + 1] for k, v in batch.items()})


def test_v1_accepts_a_body_without_json_content_type(server, rows, direct_predict):
    instances = rows["instances"][:3]
    with server.client() as c:  # like `curl -d`: application/x-www-form-urlencoded
        r = c.post(
            f"/v1/models/{server.model_name}:predict",
            content=json.dumps({"instances": instances}),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], direct_predict(instances), rtol=0, atol=ATOL)


@by_example
def test_v2_batch_equals_the_savedmodel(servers, fixtures, direct, example):
    server, fixture = servers[example], fixtures[example]
    instances = fixture.instances
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", json=v2_body(instances, f"v2-batch-{example}"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == f"v2-batch-{example}"
    assert body["model_name"] == server.model_name and body["model_version"] == fixture.rows["model_version"]
    n = len(instances)
    shapes = {(o["name"], o["datatype"]): o["shape"] for o in body["outputs"]}
    assert (
        shapes
        == {
            "binary": {("probabilities", "FP32"): [n]},
            "multiclass": {("probabilities", "FP32"): [n, 3], ("classes", "BYTES"): [n, 3]},
            "regression": {("predictions", "FP32"): [n]},
        }[fixture.task]
    )
    got = v2_outputs(body)
    assert_v2_matches(fixture.task, got, direct.predict(example, instances))
    assert_v2_matches(fixture.task, got, fixture.expected)


@by_example
def test_v2_accepts_batch_by_one_shapes(servers, fixtures, direct, example):
    server, fixture = servers[example], fixtures[example]
    instances = fixture.instances[:5]
    body = v2_body(instances)
    for inp in body["inputs"]:
        inp["shape"] = [5, 1]
        inp["data"] = [[v] for v in inp["data"]]
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", json=body)
    assert r.status_code == 200, r.text
    assert_v2_matches(fixture.task, v2_outputs(r.json()), direct.predict(example, instances))


def test_v2_requested_outputs_of_a_multiclass_model(servers, fixtures, direct):
    """`outputs` picks which outputs come back; binary_data gives them in the binary extension."""
    server, fixture = servers["penguins"], fixtures["penguins"]
    instances = fixture.instances[:4]
    want = direct.predict("penguins", instances)
    url = f"/v2/models/{server.model_name}/infer"
    with server.client() as c:
        only_classes = c.post(url, json=v2_body(instances) | {"outputs": [{"name": "classes"}]})
        binary = c.post(
            url,
            json=v2_body(instances)
            | {
                "outputs": [
                    {"name": "probabilities", "parameters": {"binary_data": True}},
                    {"name": "classes", "parameters": {"binary_data": True}},
                ]
            },
        )
    assert only_classes.status_code == 200, only_classes.text
    [out] = only_classes.json()["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("classes", "BYTES", [4, 3])
    assert out["data"] == [PENGUIN_CLASSES[i % 3] for i in range(12)]

    assert binary.status_code == 200, binary.text[:200]
    header_length = int(binary.headers["inference-header-content-length"])
    header = json.loads(binary.content[:header_length])
    raw = binary.content[header_length:]
    probabilities, classes = header["outputs"]
    size = probabilities["parameters"]["binary_data_size"]
    assert (probabilities["shape"], size) == ([4, 3], 4 * 3 * 4)
    got = np.frombuffer(raw[:size], dtype="<f4").reshape(4, 3)
    np.testing.assert_allclose(got, want["probabilities"], rtol=0, atol=ATOL)
    names, rest = [], raw[size : size + classes["parameters"]["binary_data_size"]]
    while rest:  # BYTES: each element a 4-byte little-endian length, then the bytes
        (length,) = struct.unpack("<I", rest[:4])
        names.append(rest[4 : 4 + length].decode())
        rest = rest[4 + length :]
    assert names == want["classes"].reshape(-1).tolist()


@by_example
def test_request_log_has_features_prediction_version_and_id(servers, fixtures, example):
    server, fixture = servers[example], fixtures[example]
    instances = fixture.instances[:4]
    with server.client() as c:
        sent = time.perf_counter()
        r = c.post(
            f"/v1/models/{server.model_name}:predict",
            json={"instances": instances},
            headers={"x-request-id": f"log-check-{example}"},
        )
        round_trip_ms = (time.perf_counter() - sent) * 1000
        bad = c.post(
            f"/v1/models/{server.model_name}:predict",
            json={"instances": [{"no_such_feature": 1.0}]},
            headers={"x-request-id": f"log-check-bad-{example}"},
        )
        r2 = c.post(f"/v2/models/{server.model_name}/infer", json=v2_body(instances[:2], f"log-check-v2-{example}"))
    assert r.status_code == 200 and bad.status_code == 400 and r2.status_code == 200
    lines = server.request_log_lines_of(f"log-check-{example}", f"log-check-bad-{example}", f"log-check-v2-{example}")
    mine = sorted((x for x in lines if x["request_id"] == f"log-check-{example}"), key=lambda x: x["index"])
    assert [x["index"] for x in mine] == [0, 1, 2, 3]
    for line, instance, prediction in zip(mine, instances, r.json()["predictions"], strict=True):
        assert line["features"] == instance
        assert line["prediction"] == prediction  # the v1 item, whatever the task
        assert line["task"] == fixture.task
        assert line["model_name"] == server.model_name
        assert line["model_version"] == fixture.rows["model_version"]
        assert line["protocol"] == "v1" and line["batch_size"] == 4
        stamp = dt.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 600
    # The request's server-side time, once per request: the same on each of its lines, and
    # within the client's own round trip.
    assert len({x["latency_ms"] for x in mine}) == 1
    assert isinstance(mine[0]["latency_ms"], float) and 0 < mine[0]["latency_ms"] < round_trip_ms
    [rejected] = [x for x in lines if x["request_id"] == f"log-check-bad-{example}"]
    first_feature = sorted(instances[0])[0]
    assert rejected["status"] == 400 and f"'{first_feature}'" in rejected["error"]
    assert isinstance(rejected["latency_ms"], float) and rejected["latency_ms"] > 0
    v2_lines = [x for x in lines if x["request_id"] == f"log-check-v2-{example}"]
    assert [x["protocol"] for x in v2_lines] == ["v2", "v2"]
    assert [x["features"] for x in v2_lines] == instances[:2]
    assert [x["prediction"] for x in v2_lines] == r.json()["predictions"][:2]
    assert v2_lines[0]["latency_ms"] == v2_lines[1]["latency_ms"] > 0


def _samples(text: str, metric: str, *labels: str) -> list[tuple[str, float]]:
    return [
        (line.rsplit(" ", 1)[0], float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith(metric) and all(label in line for label in labels)
    ]


@by_example
def test_prometheus_metrics(servers, fixtures, example):
    server, fixture = servers[example], fixtures[example]
    with server.client() as c:
        assert (
            c.post(f"/v1/models/{server.model_name}:predict", json={"instances": fixture.instances[:2]}).status_code
            == 200
        )
        assert c.post(f"/v1/models/{server.model_name}:predict", json={"instances": []}).status_code == 400
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    label = f'model_name="{server.model_name}"'
    # KServe's own latency histograms ...
    for metric in (
        "request_preprocess_seconds_count",
        "request_predict_seconds_count",
        "request_postprocess_seconds_count",
    ):
        [(_, value)] = _samples(text, metric, label)
        assert value >= 1
    # ... and the predictor's own.
    version = f'model_version="{fixture.rows["model_version"]}"'
    [(_, instances)] = _samples(text, "tabml_predictor_instances_total", label, version)
    assert instances >= 2
    assert any(v >= 1 for _, v in _samples(text, "tabml_predictor_rejected_requests_total", 'protocol="v1"'))
    assert _samples(text, "tabml_predictor_model_info", version, f'task="{fixture.task}"') != []
    if fixture.task == "regression":
        [(_, count)] = _samples(text, "tabml_predictor_value_count", version)
        buckets = [
            float(s.split('le="')[1].split('"')[0]) for s, _ in _samples(text, "tabml_predictor_value_bucket", version)
        ]
        # buckets over the training label's range (9..44.3 mpg), widened: not a probability scale
        assert buckets[0] <= 9 - 3 and 44.3 + 3 <= buckets[-2] < 60 and buckets[-1] == math.inf
        assert _samples(text, "tabml_predictor_probability_count", version) == []
    else:
        [(_, count)] = _samples(text, "tabml_predictor_probability_count", version)
        [(_, in_range)] = _samples(text, "tabml_predictor_probability_bucket", version, 'le="1.0"')
        assert in_range == count  # probabilities, all <= 1
    assert count == instances
    classes = _samples(text, "tabml_predictor_predicted_class_total", version)
    if fixture.task == "multiclass":
        assert sum(v for _, v in classes) == instances
        assert {s.split('class_name="')[1].split('"')[0] for s, _ in classes} <= set(PENGUIN_CLASSES)
    else:
        assert classes == []
