"""serving/manifests/monitoring: the Prometheus rules of the predictor's live metrics.

rules.yaml passes `promtool check rules`, and `promtool test rules` on rules_test.yaml (series
that must fire each alert beside series that must not; a loosened threshold makes it fail);
every metric the rules read is one the real predictor exports on /metrics; the PrometheusRule
and GMP Rules hold exactly rules.yaml's groups; the Grafana dashboard reads recording rules
that rules.yaml defines. promtool is Debian's (`make setup-promtool`).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import EXAMPLES
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from test_serving_http import v2_body
from test_serving_manifests import MANIFESTS, render

MONITORING = MANIFESTS / "monitoring"
RULES = MONITORING / "rules.yaml"
RULES_TEST = MONITORING / "rules_test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
GMP_RULES = MANIFESTS / "components" / "managed-prometheus" / "rules.yaml"
SEVERITIES = {"critical", "warning", "info"}
# What Prometheus itself writes per target, not the predictor.
SCRAPE_SERIES = {"up"}


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool is not on PATH: run `make setup-promtool` (Debian's prometheus package)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def rule_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def all_rules() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def recorded_names() -> set[str]:
    return {r["record"] for r in all_rules() if "record" in r}


# -- PromQL: the metric names an expression reads ----------------------------------------------
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions (followed by
    "("), keywords, label names (in {...}, by (...), on (...)), durations or numbers."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = _LABEL_LIST.sub("", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if m.group(0).lower() in _KEYWORDS or expr[m.end() :].lstrip().startswith("("):
            continue
        names.add(m.group(0))
    return names


def test_promql_metric_names():
    expr = (
        'sum by (namespace, le) (rate(a_bucket{code=~"5..", x="y(z)"}[5m] offset 1h)) / ignoring (class_name) '
        "group_left b:rec:5m > 0.2 * abs(c) and on (model_name) d > 1e3 unless histogram_quantile(0.5, e)"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b:rec:5m", "c", "d", "e"}


# -- promtool ----------------------------------------------------------------------------------
def test_promtool_checks_the_rules():
    out = promtool("check", "rules", RULES.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in out.stdout


def test_promtool_unit_tests_pass():
    out = promtool("test", "rules", RULES_TEST.name)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_unit_tested_firing_and_described():
    tests = yaml.safe_load(RULES_TEST.read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    alerts = [r for r in all_rules() if "alert" in r]
    assert {a["alert"] for a in alerts} == fired == quiet
    assert tests["group_eval_order"] == [g["name"] for g in rule_groups()]
    for alert in alerts:
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        assert alert["alert"].startswith("Tabml") and alert.get("for"), alert["alert"]
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]


@pytest.mark.parametrize(
    "alert, old, new",
    [
        (
            "TabmlPredictorErrorRateHigh",
            "tabml:predictor_5xx_ratio:rate5m > 0.01",
            "tabml:predictor_5xx_ratio:rate5m > 0.03",
        ),
        ("TabmlPredictionMeanShift", "> 0.2 * abs(", "> 0.9 * abs("),
        ("TabmlPredictorLatencyHigh", "p99_5m > 0.5", "p99_5m > 0.05"),
    ],
)
def test_the_unit_tests_catch_a_changed_threshold(tmp_path, alert, old, new):
    """The tests pin the thresholds: a 2% error ratio must fire at 1% (not at 3%), a 0.3 -> 0.6
    mean shift at 20% (not at 90%), and the 0.1s p99 of a fast model must not fire."""
    text = RULES.read_text()
    assert text.count(old) == 1, old
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    out = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert out.returncode != 0 and f"alertname: {alert}," in out.stderr, out.stdout + out.stderr


# -- the Kubernetes wrappers -------------------------------------------------------------------
_RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"type": "string"},
        "for": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _cr_schema(api_version: str, kind: str, group_required: list[str]) -> dict:
    """The rule fields of GMP's Rules CRD (monitoring.googleapis.com_rules.yaml, v1: interval
    required) and prometheus-operator's PrometheusRule (monitoring.coreos.com/v1), strict."""
    group = {
        "type": "object",
        "required": group_required,
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "interval": {"type": "string"},
            "rules": {"type": "array", "items": _RULE},
        },
    }
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {"groups": {"type": "array", "items": group}},
            },
        },
    }


def test_the_custom_resources_hold_the_rules_groups():
    out = subprocess.run(
        [sys.executable, str(MONITORING / "render_rules.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    groups = rule_groups()
    [prometheus_rule] = [d for d in render(MONITORING) if d["kind"] == "PrometheusRule"]
    jsonschema.validate(prometheus_rule, _cr_schema("monitoring.coreos.com/v1", "PrometheusRule", ["name"]))
    assert prometheus_rule["spec"]["groups"] == groups
    for overlay, namespace in (("staging", "tabml-staging"), ("production", "tabml-prod")):
        [gmp] = [d for d in render(MANIFESTS / "overlays" / overlay) if d["kind"] == "Rules"]
        jsonschema.validate(gmp, _cr_schema("monitoring.googleapis.com/v1", "Rules", ["name", "interval", "rules"]))
        assert gmp["spec"]["groups"] == groups
        assert gmp["metadata"]["namespace"] == namespace  # GMP Rules read their own namespace's series


def test_the_monitoring_kustomization_scrapes_what_the_rules_expect():
    docs = {d["kind"]: d for d in render(MONITORING)}
    assert set(docs) == {"PodMonitor", "PrometheusRule", "ConfigMap"}
    gmp = yaml.safe_load((MANIFESTS / "components" / "managed-prometheus" / "podmonitoring.yaml").read_text())
    monitor = docs["PodMonitor"]
    assert monitor["spec"]["selector"] == gmp["spec"]["selector"]  # the same pods as on GKE
    # prometheus-operator names the job <namespace>/<PodMonitor>, GMP <PodMonitoring>
    [down] = [r for r in all_rules() if r.get("alert") == "TabmlPredictorDown" and "up{" in r["expr"]]
    job = re.search(r'job=~"([^"]+)"', down["expr"]).group(1)
    assert re.fullmatch(job, f"tabml-prod/{monitor['metadata']['name']}") and re.fullmatch(job, gmp["metadata"]["name"])
    dashboard = docs["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"][DASHBOARD.name]) == json.loads(DASHBOARD.read_text())


# -- the rules read what the predictor exports -------------------------------------------------
def scrape_after_requests(server, fixture) -> list:
    with server.client() as c:
        url = f"/v1/models/{server.model_name}:predict"
        assert c.post(url, json={"instances": fixture.instances[:3]}).status_code == 200
        assert c.post(url, json={"instances": []}).status_code == 400
        v2 = f"/v2/models/{server.model_name}/infer"
        assert c.post(v2, json=v2_body(fixture.instances[:2])).status_code == 200
        assert c.post("/v1/models/not-served:predict", json={"instances": fixture.instances[:1]}).status_code == 404
        text = c.get("/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_the_rules_read_only_metrics_the_predictor_exports(servers, fixtures):
    exported: set[str] = set()
    for example in EXAMPLES:
        server, fixture = servers[example], fixtures[example]
        samples = scrape_after_requests(server, fixture)
        exported |= {s.name for s in samples}
        version = fixture.rows["model_version"]
        requests = {
            (s.labels["protocol"], s.labels["code"]): s.value
            for s in samples
            if s.name == "tabml_predictor_requests_total"
        }
        assert requests.keys() >= {("v1", "200"), ("v1", "400"), ("v2", "200")}, requests
        for s in samples:
            if s.name.startswith(("tabml_predictor_requests", "tabml_predictor_request_duration")):
                # the version the predictor serves; never a name a client made up
                assert s.labels["model_version"] == version and s.labels["model_name"] == server.model_name, s
        [count] = [
            s.value
            for s in samples
            if s.name == "tabml_predictor_request_duration_seconds_count" and s.labels["protocol"] == "v1"
        ]
        assert count == requests[("v1", "200")] + requests[("v1", "400")]
    read = set().union(*(promql_metric_names(r["expr"]) for r in all_rules())) - recorded_names() - SCRAPE_SERIES
    assert {  # the extraction found them (a regex gone wrong would find nothing)
        "tabml_predictor_requests_total",
        "tabml_predictor_request_duration_seconds_bucket",
        "tabml_predictor_probability_sum",
        "tabml_predictor_value_count",
        "tabml_predictor_predicted_class_total",
        "tabml_predictor_model_info",
    } <= read
    assert read <= exported, f"read by rules.yaml, not exported by the predictor: {sorted(read - exported)}"


def test_an_exception_that_escapes_the_app_counts_as_500():
    from predictor.request_metrics import RequestMetrics

    async def failing_app(scope, receive, send):
        raise RuntimeError("boom")

    labels = {"model_name": "m", "model_version": "9", "protocol": "v2"}
    versions = {"m": "9"}
    middleware = RequestMetrics(failing_app, version_of=versions.get)

    def count(name: str, **extra) -> float:
        return REGISTRY.get_sample_value(name, {**labels, **extra}) or 0.0

    before = (
        count("tabml_predictor_requests_total", code="500"),
        count("tabml_predictor_request_duration_seconds_count"),
    )
    scope = {"type": "http", "method": "POST", "path": "/v2/models/m/infer"}
    with pytest.raises(RuntimeError):
        asyncio.run(middleware(scope, None, None))
    for path in ("/v2/models/other/infer", "/v2/models/m/ready"):  # not served; not an infer call
        with pytest.raises(RuntimeError):
            asyncio.run(middleware({**scope, "path": path}, None, None))
    after = count("tabml_predictor_requests_total", code="500"), count("tabml_predictor_request_duration_seconds_count")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


# -- the dashboard -----------------------------------------------------------------------------
def test_the_dashboard_reads_the_recording_rules():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    recorded = recorded_names()
    used = set()
    for var in variables.values():
        if var["type"] == "query":
            names = promql_metric_names(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", var["query"]["query"]))
            assert names and names <= recorded, (var["name"], names - recorded)
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = promql_metric_names(target["expr"])
            assert names and names <= recorded, (panel["title"], sorted(names - recorded))
            used |= names
    assert {
        "tabml:predictor_requests:rate5m",
        "tabml:predictor_5xx_ratio:rate5m",
        "tabml:predictor_latency_seconds:p50_5m",
        "tabml:predictor_latency_seconds:p99_5m",
        "tabml:predictor_prediction_mean:5m",
        "tabml:predictor_prediction_mean:1d",
    } <= used
