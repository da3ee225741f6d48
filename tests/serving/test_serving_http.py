"""The predictor over real HTTP (KServe's REST server on 127.0.0.1): v1 and v2 predictions equal
the SavedModel's own answers, health/readiness/metrics answer, request logs are written."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

ATOL = 1e-6


def v2_body(instances: list[dict], request_id: str | None = None) -> dict:
    """Open Inference Protocol: one [batch] input per raw feature."""
    kinds = {int: ("INT64", int), float: ("FP32", float), str: ("BYTES", str)}
    inputs = []
    for name, first in instances[0].items():
        datatype, _ = kinds[type(first)]
        inputs.append({"name": name, "shape": [len(instances)], "datatype": datatype,
                       "data": [inst[name] for inst in instances]})
    body = {"inputs": inputs}
    if request_id:
        body["id"] = request_id
    return body


def test_liveness_readiness_and_metadata(server, rows):
    name = rows["model_name"]
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
    assert len(inputs) == 15
    assert inputs["fare"] == "FP32" and inputs["trip_seconds"] == "INT64" and inputs["company"] == "BYTES"
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1]}]


def test_v1_batch_equals_the_savedmodel(server, rows, direct_predict):
    instances = rows["instances"]
    with server.client() as c:
        r = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": instances},
                   headers={"x-request-id": "v1-batch-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == rows["model_version"] == r.headers["x-model-version"]
    assert r.headers["x-request-id"] == "v1-batch-1"
    got = np.asarray(body["predictions"], dtype=np.float64)
    direct = direct_predict(instances)
    assert got.shape == direct.shape == (64,)
    np.testing.assert_allclose(got, direct, rtol=0, atol=ATOL)
    # ... and equal to serving_default on ExampleGen's tf.Examples, computed in the pipeline env.
    np.testing.assert_allclose(got, rows["expected_serving_default"], rtol=0, atol=ATOL)
    assert np.all((got >= 0) & (got <= 1)) and got.std() > 0.05


def test_v1_single_rows_equal_the_batch(server, rows, direct_predict):
    instances = rows["instances"][:8]
    batch = direct_predict(instances)
    with server.client() as c:
        for i, instance in enumerate(instances):
            r = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": [instance]})
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == pytest.approx([float(batch[i])], abs=ATOL)


def test_v1_accepts_a_body_without_json_content_type(server, rows, direct_predict):
    instances = rows["instances"][:3]
    with server.client() as c:  # like `curl -d`: application/x-www-form-urlencoded
        r = c.post(f"/v1/models/{server.model_name}:predict", content=json.dumps({"instances": instances}),
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], direct_predict(instances), rtol=0, atol=ATOL)


def test_v2_batch_equals_the_savedmodel(server, rows, direct_predict):
    instances = rows["instances"]
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", json=v2_body(instances, "v2-batch-1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "v2-batch-1"
    assert body["model_name"] == server.model_name and body["model_version"] == rows["model_version"]
    [out] = body["outputs"]
    assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [64]
    np.testing.assert_allclose(out["data"], direct_predict(instances), rtol=0, atol=ATOL)
    np.testing.assert_allclose(out["data"], rows["expected_serving_default"], rtol=0, atol=ATOL)


def test_v2_accepts_batch_by_one_shapes(server, rows, direct_predict):
    instances = rows["instances"][:5]
    body = v2_body(instances)
    for inp in body["inputs"]:
        inp["shape"] = [5, 1]
        inp["data"] = [[v] for v in inp["data"]]
    with server.client() as c:
        r = c.post(f"/v2/models/{server.model_name}/infer", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["outputs"][0]["data"], direct_predict(instances), rtol=0, atol=ATOL)


def test_request_log_has_features_prediction_version_and_id(server, rows):
    instances = rows["instances"][:4]
    with server.client() as c:
        r = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": instances},
                   headers={"x-request-id": "log-check-1"})
        bad = c.post(f"/v1/models/{server.model_name}:predict", json={"instances": [{"fare": 1.0}]},
                     headers={"x-request-id": "log-check-bad"})
        r2 = c.post(f"/v2/models/{server.model_name}/infer", json=v2_body(instances[:2], "log-check-v2"))
    assert r.status_code == 200 and bad.status_code == 400 and r2.status_code == 200
    lines = server.request_log_lines()
    mine = sorted((x for x in lines if x["request_id"] == "log-check-1"), key=lambda x: x["index"])
    assert [x["index"] for x in mine] == [0, 1, 2, 3]
    for line, instance, prediction in zip(mine, instances, r.json()["predictions"]):
        assert line["features"] == instance
        assert line["prediction"] == prediction
        assert line["model_name"] == server.model_name
        assert line["model_version"] == rows["model_version"]
        assert line["protocol"] == "v1" and line["batch_size"] == 4
        stamp = dt.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 600
    [rejected] = [x for x in lines if x["request_id"] == "log-check-bad"]
    assert rejected["status"] == 400 and "'company'" in rejected["error"]
    v2_lines = [x for x in lines if x["request_id"] == "log-check-v2"]
    assert [x["protocol"] for x in v2_lines] == ["v2", "v2"]
    assert [x["prediction"] for x in v2_lines] == r2.json()["outputs"][0]["data"]
    assert [x["features"] for x in v2_lines] == instances[:2]


def test_prometheus_metrics(server, rows):
    with server.client() as c:
        assert c.post(f"/v1/models/{server.model_name}:predict",
                      json={"instances": rows["instances"][:2]}).status_code == 200
        assert c.post(f"/v1/models/{server.model_name}:predict", json={"instances": []}).status_code == 400
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    label = f'model_name="{server.model_name}"'
    # KServe's own latency histograms ...
    for metric in ("request_preprocess_seconds_count", "request_predict_seconds_count",
                   "request_postprocess_seconds_count"):
        [value] = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(metric) and label in line]
        assert value >= 1
    # ... and the predictor's own.
    version_label = f'model_version="{rows["model_version"]}"'
    assert any(line.startswith("taxi_serving_instances_total") and version_label in line
               and float(line.rsplit(" ", 1)[1]) >= 2 for line in text.splitlines())
    assert any(line.startswith("taxi_serving_rejected_requests_total") and 'protocol="v1"' in line
               and float(line.rsplit(" ", 1)[1]) >= 1 for line in text.splitlines())
    assert any(line.startswith("taxi_serving_model_info") and version_label in line for line in text.splitlines())
