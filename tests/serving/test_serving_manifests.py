"""serving/manifests/: every kustomize overlay (and the per-model example) renders, and every
object is valid.

No cluster here, so: `kubectl kustomize` (local rendering only, kustomize v5 built into kubectl)
renders the overlays; InferenceServices are checked against KServe v0.15.2's own CRD schema
(the v1beta1 openAPIV3Schema, from ../shared/schemas/kserve-v0.15.2, see its README), made
strict (an unknown field is an error, as with `kubectl apply --validate=strict`); built-in kinds
and the pod/container parts of each predictor against the Kubernetes schemas with
kubernetes-validate (strict).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from predictor.server import build_parser

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "serving" / "manifests"
KSERVE_SCHEMAS = REPO.parent / "shared" / "schemas" / "kserve-v0.15.2"
K8S_VERSION = "1.32"
MODEL_NAME = "MODEL_NAME"  # the base's placeholder for the config's model_name
OVERLAYS = ["staging", "production", "production-gpu"]
TFS, RAW, SA = "tabml-model", "tabml-model-raw", "tabml-serving"
EXAMPLE = MANIFESTS / "examples" / "chicago-taxi"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def strict(schema):
    """The CRD schema with additionalProperties: false wherever properties are listed (the API
    server prunes unknown fields silently; here they are errors)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.fixture(scope="module")
def isvc_validator():
    crd_path = KSERVE_SCHEMAS / "serving.kserve.io_inferenceservices.yaml"
    if not crd_path.exists():
        pytest.fail(f"{crd_path} is missing (the KServe v0.15.2 CRDs, see ../shared/schemas/README.md)")
    crd = next(d for d in yaml.safe_load_all(crd_path.read_text()) if d)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    # metadata is `type: object` in the CRD; the API server checks it: do the same for name/namespace.
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": DNS_1035.pattern},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return jsonschema.Draft7Validator(schema)


def render(target: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not on PATH")
    out = subprocess.run([kubectl, "kustomize", str(target)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_name(docs, kind, name):
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_from_predictor(predictor: dict) -> dict:
    """The Pod KServe would build around a predictor (its PodSpec fields + one container)."""
    pod_fields = {
        "serviceAccountName",
        "nodeSelector",
        "tolerations",
        "affinity",
        "volumes",
        "securityContext",
        "imagePullSecrets",
        "priorityClassName",
    }
    spec = {k: v for k, v in predictor.items() if k in pod_fields}
    if "containers" in predictor:
        spec["containers"] = predictor["containers"]
    else:  # a model on a ServingRuntime: the runtime gives the image; the rest is a container
        model_only = {"modelFormat", "runtime", "runtimeVersion", "protocolVersion", "storageUri", "storage"}
        container = {k: v for k, v in predictor["model"].items() if k not in model_only}
        spec["containers"] = [{"name": "kserve-container", "image": "runtime-image", **container}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"}, "spec": spec}


# KServe puts these on every predictor pod, beside the InferenceService's own labels
# (pkg/controller/v1beta1/inferenceservice/components/predictor.go).
KSERVE_POD_LABELS = {"component": "predictor"}


def predictor_pod_labels(isvc: dict) -> dict:
    return {
        **(isvc["metadata"].get("labels") or {}),
        **KSERVE_POD_LABELS,
        "serving.kserve.io/inferenceservice": isvc["metadata"]["name"],
    }


def check_pod_monitoring(doc: dict, docs: list[dict]) -> None:
    """No schema of GMP's CRD is at hand: check what decides whether anything is scraped. It
    selects exactly the custom predictors' pods (not TF Serving's, which have no /metrics) in
    their namespace, on the port and path the predictor serves its metrics on."""
    assert doc["apiVersion"] == "monitoring.googleapis.com/v1" and set(doc["spec"]) == {"selector", "endpoints"}
    wanted = doc["spec"]["selector"]["matchLabels"]
    assert set(doc["spec"]["selector"]) == {"matchLabels"}
    isvcs = [d for d in docs if d["kind"] == "InferenceService"]
    selected = [d for d in isvcs if wanted.items() <= predictor_pod_labels(d).items()]
    custom = [d for d in isvcs if "containers" in d["spec"]["predictor"]]
    assert selected == custom and custom, [d["metadata"]["name"] for d in selected]
    [endpoint] = doc["spec"]["endpoints"]
    for isvc in custom:
        assert isvc["metadata"]["namespace"] == doc["metadata"]["namespace"]
        [container] = isvc["spec"]["predictor"]["containers"]
        assert (
            endpoint["port"]
            == container["ports"][0]["containerPort"]
            == build_parser().parse_args(container["args"]).http_port
        )
        annotations = isvc["metadata"]["annotations"]
        path = annotations.get("prometheus.io/path") or annotations.get("prometheus.kserve.io/path", "/metrics")
        assert endpoint["path"] == path == "/metrics"


def validate_all(docs: list[dict], isvc_validator) -> None:
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "PodMonitoring":
            check_pod_monitoring(doc, docs)
        elif doc["kind"] == "Rules":  # GMP's; its groups are checked in test_monitoring_rules.py
            assert doc["apiVersion"] == "monitoring.googleapis.com/v1", where
        elif doc["kind"] == "InferenceService":
            assert doc["apiVersion"] == "serving.kserve.io/v1beta1", where
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in isvc_validator.iter_errors(doc)]
            assert not errors, f"{where}: " + "; ".join(errors)
            kubernetes_validate.validate(pod_from_predictor(doc["spec"]["predictor"]), K8S_VERSION, strict=True)
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("target", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_rendered_manifests_are_valid(target, isvc_validator):
    docs = render(MANIFESTS / target)
    # GKE overlays: GMP scrapes and evaluates the predictor's rules
    scraped = [] if target == "base" else [("PodMonitoring", "tabml-predictors"), ("Rules", "tabml-predictor-rules")]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("InferenceService", TFS),
        ("InferenceService", RAW),
        *scraped,
        ("ServiceAccount", SA),
    ]
    validate_all(docs, isvc_validator)
    text = yaml.safe_dump_all(docs)
    assert "taxi" not in text and "chicago" not in text  # generic: a model's names live in its overlay


def test_the_example_overlay_names_one_model(isvc_validator):
    """examples/chicago-taxi: production, with the taxi model's names and registry paths."""
    docs = render(EXAMPLE)
    validate_all(docs, isvc_validator)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("InferenceService", "chicago-taxi-big-tipper"),
        ("InferenceService", "chicago-taxi-big-tipper-raw"),
        ("PodMonitoring", "tabml-predictors"),
        ("Rules", "tabml-predictor-rules"),
        ("ServiceAccount", SA),
    ]
    assert "MODEL_NAME" not in yaml.safe_dump_all(docs)
    tfs = by_name(docs, "InferenceService", "chicago-taxi-big-tipper")
    [container] = by_name(docs, "InferenceService", "chicago-taxi-big-tipper-raw")["spec"]["predictor"]["containers"]
    assert tfs["spec"]["predictor"]["model"]["storageUri"] == "gs://REGISTRY_BUCKET/registry/chicago_taxi_big_tipper"
    assert build_parser().parse_args(container["args"]).model_name == "chicago_taxi_big_tipper"
    assert container["env"] == [
        {"name": "STORAGE_URI", "value": "gs://REGISTRY_BUCKET/registry/chicago_taxi_big_tipper/VERSION"}
    ]
    production = {d["metadata"]["name"]: d for d in render(MANIFESTS / "overlays" / "production")}
    for name, renamed in ((TFS, "chicago-taxi-big-tipper"), (RAW, "chicago-taxi-big-tipper-raw")):
        mine = by_name(docs, "InferenceService", renamed)
        assert mine["metadata"]["namespace"] == production[name]["metadata"]["namespace"] == "tabml-prod"
        assert mine["metadata"]["annotations"] == production[name]["metadata"]["annotations"]


def test_the_validators_reject_bad_manifests(isvc_validator):
    docs = render(MANIFESTS / "base")
    tfs = by_name(docs, "InferenceService", TFS)
    typo = copy.deepcopy(tfs)
    typo["spec"]["predictor"]["model"]["storageURI"] = typo["spec"]["predictor"]["model"].pop("storageUri")
    wrong_type = copy.deepcopy(tfs)
    wrong_type["spec"]["predictor"]["minReplicas"] = "two"
    bad_name = copy.deepcopy(tfs)
    bad_name["metadata"]["name"] = "chicago_taxi_big_tipper"  # underscores: not a DNS-1035 label
    for bad in (typo, wrong_type, bad_name):
        assert list(isvc_validator.iter_errors(bad)), bad
    custom = by_name(docs, "InferenceService", RAW)
    pod = pod_from_predictor(copy.deepcopy(custom["spec"]["predictor"]))
    pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_tf_serving_isvc_matches_the_runtime_and_the_registry():
    runtime = yaml.safe_load((KSERVE_SCHEMAS / "runtime-kserve-tensorflow-serving.yaml").read_text())
    model = by_name(render(MANIFESTS / "base"), "InferenceService", TFS)["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert {"name": model["modelFormat"]["name"], "version": model["modelFormat"]["version"]} in [
        {"name": f["name"], "version": f["version"]} for f in runtime["spec"]["supportedModelFormats"]
    ]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert model["runtimeVersion"].startswith("2.16.")  # TF Serving of the TF release that trained it
    # the model base path (TF Serving picks the highest version), never one pinned version
    assert re.fullmatch(rf"gs://[^/]+(/[^/]+)*/{MODEL_NAME}", model["storageUri"])


def test_custom_isvc_args_are_the_predictors_own_flags():
    docs = render(MANIFESTS / "base")
    [container] = by_name(docs, "InferenceService", RAW)["spec"]["predictor"]["containers"]
    args = build_parser().parse_args(container["args"])  # an unknown or misspelled flag exits
    assert args.model_name == MODEL_NAME and args.model_dir == "/mnt/models" and args.http_port == 8080
    assert args.request_log == "-" and args.max_batch_size >= 1
    assert "--request_log_sample=1" in container["args"]  # set, not left to the environment
    # a worker process per CPU of the limit: one process keeps about one core busy
    assert args.workers == int(container["resources"]["limits"]["cpu"]) >= 1
    env = {e["name"]: e["value"] for e in container["env"]}
    tfs = by_name(docs, "InferenceService", TFS)
    # the same model, pinned to one version (a canary's old pods must not pick up a new one)
    assert env["STORAGE_URI"] == tfs["spec"]["predictor"]["model"]["storageUri"] + "/VERSION"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_overlays_differ_where_they_should():
    staging, prod, gpu = (render(MANIFESTS / "overlays" / o) for o in OVERLAYS)
    assert {d["metadata"]["namespace"] for d in staging} == {"tabml-staging"}
    assert {d["metadata"]["namespace"] for d in prod + gpu} == {"tabml-prod"}
    for d in staging:
        assert "canaryTrafficPercent" not in d.get("spec", {}).get("predictor", {})
        assert d["metadata"]["labels"]["environment"] == "staging"
    for d in prod:
        if d["kind"] == "InferenceService":
            assert "canaryTrafficPercent" not in d["spec"]["predictor"]  # RawDeployment ignores it
            assert d["spec"]["predictor"]["minReplicas"] == 2
    st_tfs = by_name(staging, "InferenceService", TFS)["spec"]["predictor"]["model"]
    st_raw = by_name(staging, "InferenceService", RAW)["spec"]["predictor"]["containers"][0]
    assert "-staging/" in st_tfs["storageUri"] and st_raw["env"][0]["value"] == st_tfs["storageUri"]
    cpu_tfs = by_name(prod, "InferenceService", TFS)["spec"]["predictor"]
    gpu_tfs = by_name(gpu, "InferenceService", TFS)["spec"]["predictor"]
    assert "nvidia.com/gpu" not in cpu_tfs["model"]["resources"]["limits"]
    assert gpu_tfs["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_tfs["model"]["runtimeVersion"] == cpu_tfs["model"]["runtimeVersion"] + "-gpu"
    assert gpu_tfs["nodeSelector"]["cloud.google.com/gke-accelerator"].startswith("nvidia-")
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu_tfs["tolerations"])
    # the custom predictor (tensorflow-cpu image) is the same on CPU and GPU overlays
    assert by_name(gpu, "InferenceService", RAW) == by_name(prod, "InferenceService", RAW)


def serverless_production(tmp_path) -> list[dict]:
    """overlays/production with components/serverless, as a user's overlay would add it."""
    up = os.path.relpath(MANIFESTS, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{up}/overlays/production"],
                "components": [f"{up}/components/serverless"],
            }
        )
    )
    return render(tmp_path)


def test_deployment_mode_and_metrics_scraping(tmp_path, isvc_validator):
    """Base: RawDeployment (no Knative), where canaryTrafficPercent is ignored and KServe's
    enable-prometheus-scraping would point prometheus.io/port at a queue-proxy that is not
    there: the pods name the predictor's own /metrics. components/serverless: Knative, a canary,
    and KServe's aggregated scraping. Both as the rollout creates them (metrics_annotations)."""
    from rollout import metrics_annotations

    raw = by_name(render(MANIFESTS / "overlays" / "production"), "InferenceService", RAW)
    serverless_docs = serverless_production(tmp_path)
    validate_all(serverless_docs, isvc_validator)
    serverless = by_name(serverless_docs, "InferenceService", RAW)
    for doc, mode in ((raw, "RawDeployment"), (serverless, "Serverless")):
        annotations = doc["metadata"]["annotations"]
        assert annotations["serving.kserve.io/deploymentMode"] == mode
        assert {k: v for k, v in annotations.items() if "prometheus" in k or "metric" in k} == metrics_annotations(mode)
        [container] = doc["spec"]["predictor"]["containers"]
        port = annotations.get("prometheus.io/port") or annotations["prometheus.kserve.io/port"]
        assert (
            int(port)
            == container["ports"][0]["containerPort"]
            == build_parser().parse_args(container["args"]).http_port
        )
    assert "prometheus.io/port" not in serverless["metadata"]["annotations"]  # KServe's webhook sets it (9088)
    for doc in serverless_docs:
        if doc["kind"] == "InferenceService":
            assert doc["spec"]["predictor"]["canaryTrafficPercent"] == 10
