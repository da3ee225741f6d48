"""compiled/ is what `compile` produces now, and each variant carries the images, resources,
GPU placement and parameters its platform needs. Read back with kfp's own loader and with
aiplatform.PipelineJob, built offline."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from components.images import images_for
from pipelines.cli import app
from pipelines.compile import DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG, compile_pipeline, compiled_path
from pipelines.config import load_config
from tests.conftest import REPO, TAXI_CONFIG

TARGETS = ["kfp", "vertex"]
TASKS = ["example-gen", "statistics-gen", "schema-gen", "example-validator", "transform", "trainer",
         "evaluator", "pusher"]


def committed(target: str) -> dict:
    """The pipeline spec, merged with the platform spec that follows it as a second YAML
    document in the KFP variant."""
    text = compiled_path(load_config(TAXI_CONFIG), REPO / "compiled", target).read_text()
    merged = {}
    for doc in yaml.safe_load_all(text):
        merged.update(doc)
    return merged


@pytest.mark.parametrize("target", TARGETS)
def test_compiled_yaml_is_up_to_date(tmp_path, target):
    config = load_config(TAXI_CONFIG)
    fresh = compile_pipeline(config, tmp_path, target)
    path = compiled_path(config, REPO / "compiled", target)
    assert path.exists(), f"{path} is missing: run `make compile`"
    assert fresh.read_text() == path.read_text(), "compiled/ is stale: run `make compile` and commit"


def executors(spec: dict) -> dict:
    """task name -> its container spec."""
    tasks = spec["root"]["dag"]["tasks"]
    execs = spec["deploymentSpec"]["executors"]
    comps = spec["components"]
    return {name: execs[comps[t["componentRef"]["name"]]["executorLabel"]]["container"] for name, t in tasks.items()}


@pytest.mark.parametrize("target", TARGETS)
def test_images_resources_and_no_runtime_installs(target):
    spec = committed(target)
    containers = executors(spec)
    assert sorted(containers) == sorted(TASKS)
    images = images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    cfg = load_config(TAXI_CONFIG)
    for task, container in containers.items():
        assert container["image"] == (images.gpu if task == "trainer" else images.cpu)
        assert "pip install" not in " ".join(container["command"])
        res = container["resources"]
        expected = cfg.resources.trainer if task == "trainer" else cfg.resources.default
        assert res["resourceCpuLimit"] == expected.cpu and res["resourceMemoryLimit"] == expected.memory
        assert res["resourceCpuRequest"] == expected.cpu and res["resourceMemoryRequest"] == expected.memory
        assert ("accelerator" in res) == (task == "trainer")
    assert str(REPO) not in json.dumps(spec)  # nothing from this machine baked in


def test_kfp_trainer_asks_for_one_gpu_on_the_gpu_node_pool():
    spec = committed("kfp")
    accel = executors(spec)["trainer"]["resources"]["accelerator"]
    assert accel == {"resourceCount": "1", "resourceType": "nvidia.com/gpu", "count": "1", "type": "nvidia.com/gpu"}
    k8s = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    trainer_exec = spec["components"][spec["root"]["dag"]["tasks"]["trainer"]["componentRef"]["name"]]["executorLabel"]
    assert list(k8s) == [trainer_exec]  # only the Trainer is placed on GPU nodes
    assert k8s[trainer_exec]["nodeSelector"] == {"labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}
    assert k8s[trainer_exec]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_vertex_trainer_machine_spec():
    spec = committed("vertex")
    accel = executors(spec)["trainer"]["resources"]["accelerator"]
    assert accel == {"resourceCount": "1", "resourceType": "NVIDIA_L4", "count": "1", "type": "NVIDIA_L4"}
    trainer = executors(spec)["trainer"]["resources"]
    assert (trainer["resourceCpuLimit"], trainer["resourceMemoryLimit"]) == ("4", "16G")  # Vertex picks the machine
    assert "platforms" not in spec  # no Kubernetes-only settings for Vertex


@pytest.mark.parametrize("target", TARGETS)
def test_caching_retries_and_parameters(target):
    spec = committed(target)
    tasks = spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        assert task["cachingOptions"].get("enableCache") is True
        if name == "example-validator":
            assert "retryPolicy" not in task  # bad data fails the same way every time
        else:
            assert task["retryPolicy"]["maxRetryCount"] == 2
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {"data_source", "epochs", "value_thresholds", "model_registry", "git_commit",
                           "pipeline_config"}
    assert params["epochs"]["defaultValue"] == 5
    assert params["value_thresholds"]["defaultValue"] == {"AUC": {"lower_bound": 0.75}}


@pytest.mark.parametrize("target", TARGETS)
def test_kfp_loader_reads_it_back(target):
    from kfp import components

    loaded = components.load_component_from_file(str(compiled_path(load_config(TAXI_CONFIG), REPO / "compiled", target)))
    assert loaded.name == "chicago-taxi"
    assert set(loaded.component_spec.inputs) >= {"data_source", "epochs", "pipeline_config"}


def test_vertex_pipeline_job_accepts_the_template(tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name="chicago-taxi-offline-check", project="test-project", location="us-central1",
        template_path=str(compiled_path(load_config(TAXI_CONFIG), REPO / "compiled", "vertex")),
        pipeline_root="gs://test-bucket/pipeline-root", credentials=AnonymousCredentials(),
        parameter_values={"epochs": 3, "model_registry": "gs://test-bucket/registry"}, enable_caching=False)
    body = job._gca_resource  # the CreatePipelineJob request body, before it is sent
    assert body.runtime_config.gcs_output_directory == "gs://test-bucket/pipeline-root"
    assert body.runtime_config.parameter_values["epochs"] == 3
    tasks = body.pipeline_spec["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"].get("enableCache") in (False, None) for t in tasks.values())


def test_compile_cli_writes_both_variants_with_given_images(tmp_path):
    result = CliRunner().invoke(app, ["compile", "--output-dir", str(tmp_path), "--image-registry",
                                      "europe-docker.pkg.dev/p/r", "--image-tag", "abc1234", "--no-cache"])
    assert result.exit_code == 0, result.output
    for target in TARGETS:
        spec = next(yaml.safe_load_all((tmp_path / f"chicago-taxi.{target}.yaml").read_text()))
        containers = executors(spec)
        assert containers["trainer"]["image"] == "europe-docker.pkg.dev/p/r/taxi-mlops-trainer-gpu:abc1234"
        assert containers["pusher"]["image"] == "europe-docker.pkg.dev/p/r/taxi-mlops-pipeline:abc1234"
        assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())
