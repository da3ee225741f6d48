"""Schema-aware requests: values outside the training schema's domains are counted per feature on
/metrics and marked in the request log, and rejected with a 400 only when the server is told to.

The fixture versions have no schema (pushed before the Pusher copied it): the binary fixture is
copied to a temporary registry with examples/chicago_taxi/schema.pbtxt added (fare >= 0,
trip_start_hour 0..23, payment_type a closed set), as the Pusher now pushes it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import BINARY_EXAMPLE, REPO, launch_server, stop_server, wait_ready
from prometheus_client.parser import text_string_to_metric_families

from contracts.registry import TRAINING_SCHEMA
from predictor.domains import DomainChecker, domains_from_schema, parse_text_proto
from predictor.features import FLOAT32, INT64, STRING, FeatureSpec
from predictor.model import REJECT_OUT_OF_DOMAIN_ENV

SCHEMA = REPO / "examples" / BINARY_EXAMPLE / "schema.pbtxt"
METRIC = "tabml_predictor_out_of_domain"


@pytest.fixture(scope="module")
def schema_servers(fixtures, tmp_path_factory):
    """(counting server, rejecting server) on a copy of the binary fixture with its schema."""
    fixture = fixtures[BINARY_EXAMPLE]
    base = tmp_path_factory.mktemp("registry") / "model"
    version = base / fixture.rows["model_version"]
    shutil.copytree(fixture.version_dir, version)
    (version / TRAINING_SCHEMA).parent.mkdir()
    shutil.copy(SCHEMA, version / TRAINING_SCHEMA)
    launched = []
    with pytest.MonkeyPatch.context() as mp:
        for reject in ("", "1"):
            mp.setenv(REJECT_OUT_OF_DOMAIN_ENV, reject)  # the server takes os.environ at launch
            launched.append(launch_server(tmp_path_factory.mktemp(f"domains-reject{reject}"), base))
    try:
        yield [wait_ready(x) for x in launched]
    finally:
        for x in launched:
            stop_server(x.process)


def out_of_domain_counts(client, model_name: str) -> dict[str, float]:
    text = client.get("/metrics").text
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{METRIC}_total" and sample.labels["model_name"] == model_name:
                counts[sample.labels["feature"]] = sample.value
    return counts


def with_values(instance: dict, **values) -> dict:
    return {**instance, **values}


def test_out_of_domain_values_are_counted_and_logged(schema_servers, fixtures):
    server, _ = schema_servers
    instances = fixtures[BINARY_EXAMPLE].instances
    batch = [
        with_values(instances[0], fare=-50.0, trip_start_hour=99),
        instances[1],
        with_values(instances[2], fare=-1, payment_type="Bitcoin"),
        # The fill values (what a client sends for a missing value) are never out of domain.
        with_values(instances[3], trip_start_day=0, payment_type=""),
    ]
    with server.client() as c:
        before = out_of_domain_counts(c, server.model_name)
        r = c.post(
            f"/v1/models/{server.model_name}:predict", json={"instances": batch}, headers={"x-request-id": "ood"}
        )
        assert r.status_code == 200, r.text
        after = out_of_domain_counts(c, server.model_name)
    # Every checked feature's series exists from the start (0 until a value falls outside).
    assert {"fare", "trip_start_hour", "payment_type", "trip_start_day"} <= set(before)
    delta = {f: after[f] - before.get(f, 0) for f in after}
    assert {f: d for f, d in delta.items() if d} == {"fare": 2, "trip_start_hour": 1, "payment_type": 1}
    lines = [x for x in server.request_log_lines_of("ood") if x["request_id"] == "ood"]
    lines.sort(key=lambda x: x["index"])
    assert [x.get("out_of_domain") for x in lines] == [
        ["fare", "trip_start_hour"],
        None,
        ["fare", "payment_type"],
        None,
    ]
    assert lines[0]["features"]["fare"] == -50.0 and len(r.json()["predictions"]) == 4


def test_training_rows_are_in_domain(schema_servers, fixtures):
    server, _ = schema_servers
    with server.client() as c:
        before = out_of_domain_counts(c, server.model_name)
        r = c.post(
            f"/v1/models/{server.model_name}:predict",
            json={"instances": fixtures[BINARY_EXAMPLE].instances},
            headers={"x-request-id": "in-domain"},
        )
        assert r.status_code == 200
        assert out_of_domain_counts(c, server.model_name) == before
    lines = server.request_log_lines_of("in-domain")
    assert not [x for x in lines if x["request_id"] == "in-domain" and "out_of_domain" in x]


def test_out_of_domain_values_are_rejected_when_configured(schema_servers, fixtures):
    _, server = schema_servers
    instance = fixtures[BINARY_EXAMPLE].instances[0]
    with server.client() as c:
        before = out_of_domain_counts(c, server.model_name)
        r = c.post(
            f"/v1/models/{server.model_name}:predict",
            json={"instances": [instance, with_values(instance, fare=-50.0, trip_start_hour=99)]},
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert "instances[1]: feature 'fare' is -50.0" in error and ">= 0" in error
        assert "instances[1]: feature 'trip_start_hour' is 99" in error and "0 to 23" in error
        v2 = {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP32", "data": [v]}
                for k, v in with_values(instance, payment_type="Bitcoin").items()
            ]
        }
        for inp in v2["inputs"]:
            if isinstance(instance[inp["name"]], int):
                inp["datatype"] = "INT64"
        r2 = c.post(f"/v2/models/{server.model_name}/infer", json=v2)
        assert r2.status_code == 400
        assert "input 'payment_type'[0]: feature 'payment_type' is 'Bitcoin'" in r2.json()["error"]
        assert "'Cash'" in r2.json()["error"]
        # An in-domain request still answers.
        assert c.post(f"/v1/models/{server.model_name}:predict", json={"instances": [instance]}).status_code == 200
        after = out_of_domain_counts(c, server.model_name)
    delta = {f: after[f] - before.get(f, 0) for f in after}
    assert {f: d for f, d in delta.items() if d} == {"fare": 1, "trip_start_hour": 1, "payment_type": 1}
    lines = server.request_log_lines(lambda lines: sum(x.get("status") == 400 for x in lines) >= 2)
    rejected = [x for x in lines if x.get("status") == 400]
    assert [x["protocol"] for x in rejected] == ["v1", "v2"] and "'fare'" in rejected[0]["error"]


def test_a_version_without_schema_is_served_unchecked(fixtures):
    from predictor.domains import load_checker

    fixture = fixtures[BINARY_EXAMPLE]
    assert not (fixture.version_dir / TRAINING_SCHEMA).exists()
    assert load_checker(str(fixture.version_dir), [FeatureSpec("fare", FLOAT32)], "m", "1") is None


def test_schema_domains_parsed_from_text_format():
    schema = parse_text_proto(
        """
        # comments, global domains, bool domains, deprecated features, <> messages
        feature { name: "hour" type: INT int_domain { min: 0 max: 23 } }
        feature { name: "ratio" type: FLOAT float_domain < max: 0.1 > }
        feature { name: "kind" type: BYTES domain: "kinds" }
        feature { name: "flag" type: INT bool_domain { } }
        feature { name: "yes_no" type: BYTES bool_domain { true_value: "Y" false_value: "N" } }
        feature { name: "old" type: INT int_domain { min: 5 } deprecated: true }
        feature { name: "free" type: BYTES }
        feature { name: "label" type: INT int_domain { min: 0 max: 1 } }
        string_domain { name: "kinds" value: "a" value: 'b' }
        """
    )
    specs = [
        FeatureSpec("flag", INT64),
        FeatureSpec("free", STRING),
        FeatureSpec("hour", INT64),
        FeatureSpec("kind", STRING),
        FeatureSpec("old", INT64),
        FeatureSpec("ratio", FLOAT32),
        FeatureSpec("yes_no", STRING),
    ]
    domains = domains_from_schema(schema, specs)
    assert [(d.feature, d.describe()) for d in domains] == [
        ("flag", "0 to 1"),
        ("hour", "0 to 23"),
        ("kind", "one of 'a', 'b'"),
        ("ratio", "<= 0.1"),
        ("yes_no", "one of 'N', 'Y'"),
    ]
    checker = DomainChecker(domains, "unit-test-model", "1")
    arrays = {
        "flag": np.array([1, 2, 0], dtype=np.int64),
        "free": np.array(["x", "y", "z"], dtype=object),
        "hour": np.array([0, 24, -3], dtype=np.int64),
        "kind": np.array(["a", "", "c"], dtype=object),
        "old": np.array([0, 0, 0], dtype=np.int64),
        # 0.1 sent as float32 is the bound itself: inside; the next float32 up is outside.
        "ratio": np.array([0.1, np.nextafter(np.float32(0.1), np.float32(1)), 0], dtype=np.float32),
        "yes_no": np.array(["Y", "N", "maybe"], dtype=object),
    }
    found = checker.check(arrays)
    assert found.per_instance == [[], ["flag", "hour", "ratio"], ["hour", "kind", "yes_no"]]
    message = checker.message(found, arrays, "v1")
    assert "instances[1]: feature 'hour' is 24, outside the training schema's domain (0 to 23)" in message
    assert "(and 1 more in this batch)" in message
    assert not checker.check({k: v[:1] for k, v in arrays.items()})
    # A larger batch takes the numpy path: the same answers.
    large = checker.check({k: np.tile(v, 20) for k, v in arrays.items()})
    assert large.per_instance == found.per_instance * 20
    assert {f: len(i) for f, i in large.found.items()} == {
        "flag": 20,
        "hour": 40,
        "ratio": 20,
        "kind": 20,
        "yes_no": 20,
    }
