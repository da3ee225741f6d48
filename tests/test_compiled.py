"""compiled/ is what `make compile` produces now, for every example config and both targets,
and each variant carries the images, resources, GPU placement and parameters its platform
needs. Read back with kfp's own loader and with aiplatform.PipelineJob, built offline.

Each (config, target) is compiled once per module, into a temporary directory; every test
reads that fresh output or the committed file next to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from components.images import images_for
from contracts.config import PipelineConfig, load_config
from pipelines.cli import app
from pipelines.compile import (
    DEFAULT_IMAGE_REGISTRY,
    DEFAULT_IMAGE_TAG,
    compile_monitoring,
    compile_pipeline,
    compiled_path,
    monitoring_compiled_path,
    training_variants,
)
from pipelines.monitoring_pipeline import TASKS as MONITORING_TASKS
from pipelines.training_pipeline import (
    FINGERPRINTED_TASK,
    TARGETS,
    UNCACHED_TASKS,
    beam_args_default,
    registry_default,
    thresholds_parameter,
)
from tests.conftest import EXAMPLES, REPO, TAXI_CONFIG

COMPILED = REPO / "compiled"
CONFIGS = {p.parent.name: load_config(p) for p in sorted(EXAMPLES.glob("*/config.yaml"))}
CASES = [(name, target) for name in CONFIGS for target in TARGETS]
IDS = [f"{name}-{target}" for name, target in CASES]
# The variants a beam section for another runner adds: (example, target, runner).
RUNNER_CASES = [(name, t, r) for name, cfg in CONFIGS.items() for t, r in training_variants(cfg) if r]
TASKS = [
    "example-gen",
    "statistics-gen",
    "schema-gen",
    "example-validator",
    "transform",
    "trainer",
    "evaluator",
    "pusher",
]
STALE = "run `make compile` and commit compiled/"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """(example, target) -> the path of what `compile` writes now; each compiled once."""
    out = tmp_path_factory.mktemp("compiled")
    cache: dict[tuple[str, str], Path] = {}

    def get(name: str, target: str) -> Path:
        if (name, target) not in cache:
            cache[name, target] = compile_pipeline(CONFIGS[name], out / name, target)
        return cache[name, target]

    return get


def merged(path: Path) -> dict:
    """The pipeline spec, merged with the platform spec that follows it as a second YAML
    document in the KFP variant (when a task has Kubernetes-only settings)."""
    spec = {}
    for doc in yaml.safe_load_all(path.read_text()):
        spec.update(doc)
    return spec


def committed(name: str, target: str) -> dict:
    return merged(compiled_path(CONFIGS[name], COMPILED, target))


def executors(spec: dict) -> dict:
    """task name -> its container spec."""
    tasks = spec["root"]["dag"]["tasks"]
    execs = spec["deploymentSpec"]["executors"]
    comps = spec["components"]
    return {name: execs[comps[t["componentRef"]["name"]]["executorLabel"]]["container"] for name, t in tasks.items()}


# ------------------------------------------------------------------ up to date


def test_every_compiled_file_belongs_to_an_example():
    expected = {
        path(cfg, COMPILED, t).name
        for cfg in CONFIGS.values()
        for t in TARGETS
        for path in (compiled_path, monitoring_compiled_path)
    }
    expected |= {compiled_path(CONFIGS[name], COMPILED, t, r).name for name, t, r in RUNNER_CASES}
    present = {p.name for p in COMPILED.iterdir()}
    assert not present - expected, (
        f"compiled/ has files no example config produces: {sorted(present - expected)}; {STALE}"
    )
    assert not expected - present, f"compiled/ lacks {sorted(expected - present)}: {STALE}"
    names = [cfg.pipeline_name for cfg in CONFIGS.values()]
    assert len(set(names)) == len(names), f"two examples share a pipeline_name: {names}"


@pytest.mark.parametrize("name, target", CASES, ids=IDS)
def test_compiled_yaml_is_up_to_date(fresh, name, target):
    path = compiled_path(CONFIGS[name], COMPILED, target)
    assert path.exists(), f"{path.relative_to(REPO)} is missing: {STALE}"
    assert fresh(name, target).read_text() == path.read_text(), (
        f"{path.relative_to(REPO)} is stale (examples/{name}/config.yaml or the pipeline code changed): {STALE}"
    )


# ------------------------------------------------------------------ what each variant carries


@pytest.mark.parametrize("name, target", CASES, ids=IDS)
def test_images_resources_and_no_runtime_installs(name, target):
    cfg: PipelineConfig = CONFIGS[name]
    spec = committed(name, target)
    containers = executors(spec)
    assert sorted(containers) == sorted(TASKS)
    images = images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    for task, container in containers.items():
        # The GPU image only for a Trainer that asks for a GPU.
        gpu = task == "trainer" and cfg.resources.trainer.gpu_count > 0
        assert container["image"] == (images.gpu if gpu else images.cpu), task
        assert "pip install" not in " ".join(container["command"] + container.get("args", []))
        res = container["resources"]
        expected = cfg.resources.trainer if task == "trainer" else cfg.resources.default
        assert res["resourceCpuLimit"] == expected.cpu and res["resourceMemoryLimit"] == expected.memory
        assert res["resourceCpuRequest"] == expected.cpu and res["resourceMemoryRequest"] == expected.memory
        assert ("accelerator" in res) == (expected.gpu_count > 0), task
    assert str(REPO) not in json.dumps(spec)  # nothing from this machine baked in


@pytest.mark.parametrize("name", CONFIGS)
def test_kfp_gpu_placement(name):
    cfg = CONFIGS[name]
    spec = committed(name, "kfp")
    gpu = cfg.resources.trainer
    if not gpu.gpu_count:
        assert "platforms" not in spec  # no GPU: no node selector or toleration anywhere
        return
    accel = executors(spec)["trainer"]["resources"]["accelerator"]
    count = str(gpu.gpu_count)
    assert accel == {"resourceCount": count, "resourceType": "nvidia.com/gpu", "count": count, "type": "nvidia.com/gpu"}
    k8s = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    trainer_exec = spec["components"][spec["root"]["dag"]["tasks"]["trainer"]["componentRef"]["name"]]["executorLabel"]
    assert list(k8s) == [trainer_exec]  # only the Trainer is placed on GPU nodes
    assert k8s[trainer_exec]["nodeSelector"] == {
        "labels": {
            "cloud.google.com/gke-accelerator": gpu.gke_accelerator,
            # the machine whose allocatable the request was validated against
            "node.kubernetes.io/instance-type": gpu.machine_type,
        }
    }
    assert k8s[trainer_exec]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_taxi_trainer_asks_for_one_l4():
    """The taxi example's Trainer: one L4, as GKE (node label) and Vertex (machine spec) name it."""
    kfp = committed(TAXI_CONFIG.parent.name, "kfp")
    node = next(iter(kfp["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()))
    assert node["nodeSelector"] == {
        "labels": {"cloud.google.com/gke-accelerator": "nvidia-l4", "node.kubernetes.io/instance-type": "g2-standard-4"}
    }
    vertex = committed(TAXI_CONFIG.parent.name, "vertex")
    accel = executors(vertex)["trainer"]["resources"]["accelerator"]
    assert accel == {"resourceCount": "1", "resourceType": "NVIDIA_L4", "count": "1", "type": "NVIDIA_L4"}


@pytest.mark.parametrize("name", CONFIGS)
def test_vertex_machine_spec_and_no_kubernetes_settings(name):
    cfg = CONFIGS[name]
    spec = committed(name, "vertex")
    trainer = executors(spec)["trainer"]["resources"]
    # Vertex picks the machine from the limits.
    assert (trainer["resourceCpuLimit"], trainer["resourceMemoryLimit"]) == (
        cfg.resources.trainer.cpu,
        cfg.resources.trainer.memory,
    )
    if cfg.resources.trainer.gpu_count:
        assert trainer["accelerator"]["resourceType"] == cfg.resources.trainer.gpu_type
    assert "platforms" not in spec  # no Kubernetes-only settings for Vertex


@pytest.mark.parametrize("name, target", CASES, ids=IDS)
def test_caching_retries_and_parameters(name, target):
    cfg = CONFIGS[name]
    spec = committed(name, target)
    tasks = spec["root"]["dag"]["tasks"]
    for task_name, task in tasks.items():
        # Not the steps that use the registry; ExampleGen only for a run that passes data_fingerprint.
        cached = task_name not in (*UNCACHED_TASKS, FINGERPRINTED_TASK)
        assert task["cachingOptions"].get("enableCache", False) is cached, task_name
        if task_name == "example-validator" or not cfg.resources.retries:
            assert "retryPolicy" not in task  # bad data fails the same way every time
        else:
            assert task["retryPolicy"]["maxRetryCount"] == cfg.resources.retries
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "data_source",
        "extra_data",
        "epochs",
        "value_thresholds",
        "model_registry",
        "git_commit",
        "data_fingerprint",
        "run_reason",
        "beam_args",
        "pipeline_config",
    }
    assert params["beam_args"]["defaultValue"] == beam_args_default(
        cfg, target, images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    )
    # What a run started from the UI uses: the config's own values.
    assert params["epochs"]["defaultValue"] == cfg.model.epochs
    assert params["data_source"]["defaultValue"] == cfg.data.source
    assert params["model_registry"]["defaultValue"] == registry_default(cfg, target)  # never a local path
    assert params["value_thresholds"]["defaultValue"] == thresholds_parameter(cfg)
    assert json.loads(params["pipeline_config"]["defaultValue"]) == json.loads(cfg.to_json())
    assert spec["pipelineInfo"]["name"] == cfg.pipeline_name


# ------------------------------------------------------------------ read back by the real clients


@pytest.mark.parametrize("name, target", CASES, ids=IDS)
def test_kfp_loader_reads_it_back(name, target):
    from kfp import components

    cfg = CONFIGS[name]
    loaded = components.load_component_from_file(str(compiled_path(cfg, COMPILED, target)))
    assert loaded.name == cfg.pipeline_name
    assert set(loaded.component_spec.inputs) >= {"data_source", "epochs", "pipeline_config"}


@pytest.mark.parametrize("name", CONFIGS)
def test_vertex_pipeline_job_accepts_the_template(name):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    cfg = CONFIGS[name]
    job = aiplatform.PipelineJob(
        display_name=f"{cfg.pipeline_name}-offline-check",
        project="test-project",
        location="us-central1",
        template_path=str(compiled_path(cfg, COMPILED, "vertex")),
        pipeline_root="gs://test-bucket/pipeline-root",
        credentials=AnonymousCredentials(),
        parameter_values={"epochs": 3, "model_registry": "gs://test-bucket/registry"},
        enable_caching=False,
    )
    body = job._gca_resource  # the CreatePipelineJob request body, before it is sent
    assert body.runtime_config.gcs_output_directory == "gs://test-bucket/pipeline-root"
    assert body.runtime_config.parameter_values["epochs"] == 3
    tasks = body.pipeline_spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(TASKS)
    assert all(t["cachingOptions"].get("enableCache") in (False, None) for t in tasks.values())


def test_compile_cli_writes_both_variants_with_given_images(tmp_path):
    cfg = load_config(TAXI_CONFIG)
    args = ["compile", "--config", str(TAXI_CONFIG), "--output-dir", str(tmp_path)]
    args += ["--image-registry", "europe-docker.pkg.dev/p/r", "--image-tag", "abc1234", "--no-cache"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path(cfg, tmp_path, t).name for t in TARGETS for path in (compiled_path, monitoring_compiled_path)]
        + [compiled_path(cfg, tmp_path, t, r).name for t, r in training_variants(cfg) if r]
    )
    for target in TARGETS:
        spec = next(yaml.safe_load_all(compiled_path(cfg, tmp_path, target).read_text()))
        containers = executors(spec)
        assert containers["trainer"]["image"] == "europe-docker.pkg.dev/p/r/tabml-trainer-gpu:abc1234"
        assert containers["pusher"]["image"] == "europe-docker.pkg.dev/p/r/tabml-pipeline:abc1234"
        assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())


def test_compile_cli_one_target_only(tmp_path):
    cfg = load_config(TAXI_CONFIG)
    result = CliRunner().invoke(
        app, ["compile", "--config", str(TAXI_CONFIG), "--output-dir", str(tmp_path), "--target", "vertex"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path(cfg, tmp_path, "vertex").name for path in (compiled_path, monitoring_compiled_path)]
        + [compiled_path(cfg, tmp_path, "vertex", "dataflow").name]  # Flink: kfp only
    )
    bad = CliRunner().invoke(
        app, ["compile", "--config", str(TAXI_CONFIG), "--output-dir", str(tmp_path), "--target", "gke"]
    )
    assert bad.exit_code == 2 and "--target must be one of" in bad.output


# ------------------------------------------------------------------ the monitoring pipeline


@pytest.mark.parametrize("name, target", CASES, ids=IDS)
def test_monitoring_yaml_is_up_to_date_and_never_cached(tmp_path, name, target):
    cfg = CONFIGS[name]
    path = monitoring_compiled_path(cfg, COMPILED, target)
    assert path.exists(), f"{path.relative_to(REPO)} is missing: {STALE}"
    assert compile_monitoring(cfg, tmp_path, target).read_text() == path.read_text(), f"{path.name} is stale: {STALE}"
    spec = merged(path)
    assert spec["pipelineInfo"]["name"] == f"{cfg.pipeline_name}-monitor"
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(MONITORING_TASKS)
    # The request log grows; the Monitor and the trigger read and write the registry.
    assert all(t["cachingOptions"] == {} and "retryPolicy" not in t for t in tasks.values())
    assert tasks["retrain-trigger"]["inputs"]["artifacts"]["decision"]["taskOutputArtifact"] == {
        "outputArtifactKey": "decision",
        "producerTask": "monitor",
    }
    # The window's labelled rows become the retrain's extra_data.
    assert tasks["retrain-trigger"]["inputs"]["artifacts"]["window"]["taskOutputArtifact"] == {
        "outputArtifactKey": "window",
        "producerTask": "request-window",
    }
    image = images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG).cpu
    for container in executors(spec).values():
        assert container["image"] == image and container["resources"]["resourceCpuLimit"] == cfg.resources.default.cpu
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["model_registry"]["defaultValue"] == registry_default(cfg, target)  # never a local path
    assert params["retrain_target"]["defaultValue"] == "record"
    assert json.loads(params["pipeline_config"]["defaultValue"]) == json.loads(cfg.to_json())
    assert "platforms" not in spec and str(REPO) not in json.dumps(spec)


def test_vertex_pipeline_job_accepts_the_monitoring_template():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    cfg = CONFIGS[TAXI_CONFIG.parent.name]
    job = aiplatform.PipelineJob(
        display_name="monitor-offline-check",
        project="test-project",
        location="us-central1",
        template_path=str(monitoring_compiled_path(cfg, COMPILED, "vertex")),
        pipeline_root="gs://test-bucket/pipeline-root",
        credentials=AnonymousCredentials(),
        parameter_values={"request_log": "gs://logs/stdout/", "model_registry": "gs://test-bucket/registry"},
    )
    body = job._gca_resource
    assert body.runtime_config.parameter_values["request_log"] == "gs://logs/stdout/"
    assert sorted(body.pipeline_spec["root"]["dag"]["tasks"]) == sorted(MONITORING_TASKS)


# ------------------------------------------------------------------ Beam runner variants


def test_the_taxi_example_compiles_dataflow_and_flink_variants():
    assert {(t, r) for name, t, r in RUNNER_CASES if name == TAXI_CONFIG.parent.name} == {
        ("kfp", "dataflow"),
        ("vertex", "dataflow"),
        ("kfp", "flink"),  # Vertex has no Flink
    }


@pytest.mark.parametrize("name, target, runner", RUNNER_CASES, ids=[f"{n}-{r}-{t}" for n, t, r in RUNNER_CASES])
def test_runner_variant_is_up_to_date_and_runs_beam_there(tmp_path, name, target, runner):
    cfg = CONFIGS[name]
    path = compiled_path(cfg, COMPILED, target, runner)
    assert path.exists(), f"{path.relative_to(REPO)} is missing: {STALE}"
    assert compile_pipeline(cfg, tmp_path, target, beam_runner=runner).read_text() == path.read_text(), (
        f"{path.relative_to(REPO)} is stale: {STALE}"
    )
    spec = merged(path)
    args = spec["root"]["inputDefinitions"]["parameters"]["beam_args"]["defaultValue"]
    images = images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    if runner == "dataflow":
        section = cfg.beam.dataflow
        assert "--runner=DataflowRunner" in args
        assert f"--project={section.project}" in args and f"--temp_location={section.temp_location}" in args
        # Dataflow's workers run the pipeline's own image: the same TFX libraries and user code.
        assert f"--sdk_container_image={images.cpu}" in args
        assert "--experiments=upload_graph" in args
    elif runner == "flink":
        assert "--runner=PortableRunner" in args and f"--job_endpoint={cfg.beam.flink.job_endpoint}" in args
        assert "--environment_type=EXTERNAL" in args
    # Every Beam step gets the parameter; the others do not.
    tasks = spec["root"]["dag"]["tasks"]
    with_beam = {n for n, t in tasks.items() if "beam_args" in t["inputs"].get("parameters", {})}
    assert with_beam == {"example-gen", "statistics-gen", "transform", "evaluator"}
    for task in with_beam:
        assert tasks[task]["inputs"]["parameters"]["beam_args"] == {"componentInputParameter": "beam_args"}
    # Beam's own parser accepts every compiled arg.
    from components.common.beam import validate_beam_args

    assert validate_beam_args(args) == args
