"""Cluster runs that are right by construction: the compiled cluster variants never default to
a local registry, every step that uses the registry refuses one inside a cluster pod, a
retried push writes no second version, and only steps whose inputs say all they read are
cached (ExampleGen's cache key follows the data through data_fingerprint).

Models here are directories of files (the Pusher copies and hashes files; what a SavedModel
holds is tested in test_evaluator_pusher.py), so every test runs in seconds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from components.evaluator.executor import Blessing, write_blessing
from components.example_gen import executor as example_gen
from components.example_gen.fingerprint import data_fingerprint
from components.pusher import executor as pusher
from contracts.artifacts import PUSH_RESULT, SCHEMA_FILE
from contracts.config import ConfigError, PipelineConfig, load_config, parse_config
from contracts.registry import RegistryError, complete_versions, latest_version, model_base, read_metadata
from pipelines.compile import compile_pipeline
from pipelines.training_pipeline import TARGETS, UNCACHED_TASKS, registry_default, run_caching
from tests.conftest import EXAMPLES, example_config, taxi_config

CONFIGS = {p.parent.name: load_config(p) for p in sorted(EXAMPLES.glob("*/config.yaml"))}
POD_ENV = ["KFP_POD_NAME", "CLOUD_ML_JOB_ID"]  # what a KFP step / a Vertex Pipelines step has


@pytest.fixture(autouse=True)
def outside_a_pod(monkeypatch):
    for name in ("KFP_POD_NAME", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def with_changes(config: PipelineConfig, **sections) -> PipelineConfig:
    data = config.model_dump(mode="json", exclude_none=True)
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_config(data)


def compiled_spec(config: PipelineConfig, target: str, out: Path) -> dict:
    return next(yaml.safe_load_all(compile_pipeline(config, out, target).read_text()))


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, dict]:
    """target -> one example's compiled spec (test_compiled.py reads every example's)."""
    out = tmp_path_factory.mktemp("compiled")
    return {t: compiled_spec(CONFIGS["penguins"], t, out) for t in TARGETS}


# ------------------------------------------------------------------ 1. the cluster variants' registry


@pytest.mark.parametrize("target", TARGETS)
def test_cluster_variants_never_default_to_a_local_registry(specs, target):
    params = specs[target]["root"]["inputDefinitions"]["parameters"]
    assert params["model_registry"]["defaultValue"] == ""
    for name, cfg in CONFIGS.items():
        assert "://" not in cfg.push.registry  # the examples push to a local directory when run locally
        assert registry_default(cfg, target) == "", name


@pytest.mark.parametrize("target", TARGETS)
def test_cloud_model_registry_is_the_cluster_default(tmp_path, target):
    cfg = with_changes(CONFIGS["penguins"], cloud={"model_registry": "gs://ml-models/registry"})
    params = compiled_spec(cfg, target, tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert params["model_registry"]["defaultValue"] == "gs://ml-models/registry"
    # A remote push.registry serves both, and a local run keeps push.registry.
    remote = with_changes(CONFIGS["penguins"], push={"registry": "gs://team/models"})
    assert registry_default(remote, target) == "gs://team/models"
    assert registry_default(cfg, "local") == cfg.push.registry


def test_cloud_section_refuses_local_paths():
    with pytest.raises(ConfigError, match=r"cloud\.model_registry: 'artifacts/registry' is a local path"):
        with_changes(CONFIGS["penguins"], cloud={"model_registry": "artifacts/registry"})
    with pytest.raises(ConfigError, match=r"cloud\.pipeline_root: '/tmp/root' is a local path"):
        with_changes(CONFIGS["penguins"], cloud={"pipeline_root": "/tmp/root"})


# ------------------------------------------------------------------ 2. refused inside a cluster pod


def fake_model(root: Path, content: bytes = b"weights") -> Path:
    """A Model artifact: Format-Serving/ with a saved_model.pb and a variables file."""
    serving = root / "Format-Serving"
    (serving / "variables").mkdir(parents=True, exist_ok=True)
    (serving / "saved_model.pb").write_bytes(b"graph")
    (serving / "variables" / "variables.data-00000-of-00001").write_bytes(content)
    return root


def pusher_inputs(root: Path, config: PipelineConfig, registry: str, content: bytes = b"weights") -> pusher.Inputs:
    write_blessing(
        str(root / "blessing"),
        Blessing(True, "binary", {"name": config.label.name}, [], {"auc": 0.9}),
    )
    (root / "schema").mkdir(exist_ok=True)
    (root / "schema" / SCHEMA_FILE).write_text("")
    return pusher.Inputs(
        model=str(fake_model(root / "model", content)),
        blessing=str(root / "blessing"),
        schema=str(root / "schema"),
        model_registry=registry,
    )


@pytest.mark.parametrize("env", POD_ENV)
def test_pusher_refuses_a_local_registry_in_a_cluster_pod(tmp_path, monkeypatch, env):
    config = taxi_config(tmp_path)
    monkeypatch.setenv(env, "pod-1")
    for registry in ("", str(tmp_path / "registry")):  # the parameter, then push.registry
        inputs = pusher_inputs(tmp_path, config, registry)
        with pytest.raises(RegistryError, match="set the model_registry run parameter, or cloud.model_registry"):
            pusher.run(config, inputs, pusher.Outputs(pushed_model=str(tmp_path / "pushed")))
    assert not (tmp_path / "registry").exists()
    # The steps that read the baseline (ExampleValidator, Evaluator) refuse it the same way.
    with pytest.raises(RegistryError, match="is a local path inside a cluster pod"):
        latest_version(config.push.registry, config.model_name)


def test_pusher_in_a_pod_pushes_to_a_remote_registry(tmp_path, monkeypatch):
    """ram:// is TensorFlow's in-memory filesystem: remote, like gs://."""
    config = taxi_config(tmp_path)
    monkeypatch.setenv("KFP_POD_NAME", "pod-1")
    registry = f"ram://cluster-safety-{os.getpid()}"
    result = pusher.run(config, pusher_inputs(tmp_path, config, registry), pusher.Outputs(str(tmp_path / "pushed")))
    assert result.pushed and result.destination.startswith(registry)
    assert latest_version(registry, config.model_name).version == result.version


# ------------------------------------------------------------------ 4. idempotent push


@pytest.mark.parametrize("remote", [False, True], ids=["local", "object-store"])
def test_a_retried_push_reuses_its_version(tmp_path, remote):
    config = taxi_config(tmp_path)
    registry = f"ram://retried-{os.getpid()}-{tmp_path.name}" if remote else str(tmp_path / "registry")
    runs = []
    for attempt in range(2):
        out = tmp_path / f"pushed-{attempt}"
        runs.append(pusher.run(config, pusher_inputs(tmp_path, config, registry), pusher.Outputs(str(out))))
    first, retry = runs
    assert first.reason == "blessed"
    assert retry.pushed and retry.version == first.version and retry.destination == first.destination
    assert retry.reason == f"blessed; already pushed as version {first.version}"
    assert json.loads((tmp_path / "pushed-1" / PUSH_RESULT).read_text())["version"] == first.version
    base = model_base(registry, config.model_name)
    assert complete_versions(base) == [first.version]
    assert [n.rstrip("/") for n in tf.io.gfile.listdir(base)] == [str(first.version)]  # nothing staged left
    assert retry.metadata == read_metadata(first.destination)
    assert retry.metadata["model_sha256"] == pusher.model_digest(str(tmp_path / "model" / "Format-Serving"))

    other = tmp_path / "other"
    other.mkdir()
    new = pusher.run(config, pusher_inputs(other, config, registry, b"retrained"), pusher.Outputs(str(other / "p")))
    assert new.reason == "blessed" and new.version > first.version
    assert complete_versions(base) == [first.version, new.version]


# ------------------------------------------------------------------ 3. parameter descriptions


@pytest.mark.parametrize("target", TARGETS)
def test_every_parameter_is_described(specs, target):
    params = specs[target]["root"]["inputDefinitions"]["parameters"]
    assert not [p for p, d in params.items() if not d.get("description")]
    assert "cloud.model_registry" in params["model_registry"]["description"]


# ------------------------------------------------------------------ 5. caching


@pytest.mark.parametrize("target", TARGETS)
def test_only_steps_whose_inputs_say_all_they_read_are_cached(specs, target):
    tasks = specs[target]["root"]["dag"]["tasks"]
    off = {t for t, task in tasks.items() if not task["cachingOptions"].get("enableCache")}
    assert off == {*UNCACHED_TASKS, "example-gen"}
    # ExampleGen's cache key holds the data's fingerprint, a run parameter.
    fingerprint = tasks["example-gen"]["inputs"]["parameters"]["data_fingerprint"]
    assert fingerprint == {"componentInputParameter": "data_fingerprint"}


def test_run_caching_caches_example_gen_only_with_a_fingerprint(specs):
    spec = specs["kfp"]

    def cached(s):
        return {t for t, task in s["root"]["dag"]["tasks"].items() if task["cachingOptions"].get("enableCache")}

    steady = {"statistics-gen", "schema-gen", "transform", "trainer"}
    assert cached(run_caching(spec, True)) == steady
    assert cached(run_caching(spec, True, data_fingerprint="abc")) == steady | {"example-gen"}
    assert cached(run_caching(spec, False, data_fingerprint="abc")) == set()
    assert cached(spec) == steady  # a copy: the compiled spec is left as it is


def test_data_fingerprint_follows_the_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "b.csv").write_text("x,y\n3,4\n")
    whole = data_fingerprint(str(data))
    assert data_fingerprint(str(data)) == whole
    assert data_fingerprint(str(data / "*.csv")) == whole  # a glob naming the same files
    assert data_fingerprint(str(data / "a.csv")) != whole
    (data / "b.csv").write_text("x,y\n3,4\n5,6\n")  # new rows at the same path
    assert data_fingerprint(str(data)) != whole
    changed = data_fingerprint(str(data))
    os.utime(data / "b.csv", ns=(1, 1))  # same size, rewritten
    assert data_fingerprint(str(data)) != changed
    remote = f"ram://fingerprint-{os.getpid()}/data.csv"
    with tf.io.gfile.GFile(remote, "w") as f:
        f.write("x,y\n1,2\n")
    assert len(data_fingerprint(remote)) == 64


def test_example_gen_refuses_data_that_changed_after_the_run_started(tmp_path):
    config = example_config("penguins", tmp_path)
    source = tmp_path / "penguins.csv"
    source.write_bytes(Path(config.data.source).read_bytes())
    at_submit = data_fingerprint(str(source))

    def run(fingerprint: str, out: str):
        inputs = example_gen.Inputs(data_source=str(source), data_fingerprint=fingerprint)
        return example_gen.run(config, inputs, example_gen.Outputs(examples=str(tmp_path / out)))

    assert run(at_submit, "e1").data_fingerprint == at_submit
    with source.open("a") as f:
        f.write(source.read_text().splitlines()[1] + "\n")
    with pytest.raises(example_gen.InputDataError, match="changed after the run was started"):
        run(at_submit, "e2")
    assert run("", "e3").data_fingerprint == data_fingerprint(str(source))  # unknown: not checked
