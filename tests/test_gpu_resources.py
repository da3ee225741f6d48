"""A Trainer that asks for a GPU gets one it can use, or fails saying why; and resource requests
that fit the node they must land on.

No Docker engine, GPU or GKE here: the GPU image is checked by parsing its Dockerfile against
what TensorFlow was built with (tf.sysconfig) and what uv.lock installs; the GPU check runs for
real on this GPU-less machine (TensorFlow sees none); allocatable follows GKE's documented
reservation formula."""

from __future__ import annotations

import logging
import re
import shlex
import tomllib

import pytest
import tensorflow as tf
from kfp import dsl
from kfp.dsl.types import artifact_types
from pydantic import ValidationError

from components.trainer import executor as trainer
from components.trainer.component import trainer as trainer_component
from contracts import machines
from contracts.config import ConfigError, Resources, TaskResources, parse_config
from tests.conftest import REPO, example_config

GPU_DOCKERFILE = REPO / "images" / "trainer-gpu.Dockerfile"
CPU_DOCKERFILE = REPO / "images" / "pipeline.Dockerfile"


def instructions(path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def image_env(path) -> dict[str, str]:
    """The image's ENV, $VAR references resolved against what was set before (as Docker does)."""
    env: dict[str, str] = {}
    for op, args in instructions(path):
        if op == "ENV":
            pairs = [p.split("=", 1) for p in shlex.split(args)]
            resolved = {k: re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), v) for k, v in pairs}
            env.update(resolved)
    return env


def base_image(path) -> str:
    return next(args for op, args in instructions(path) if op == "FROM").split()[0]


def test_gpu_image_base_carries_tensorflows_cuda():
    base = base_image(GPU_DOCKERFILE)
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-base-ubuntu22\.04", base)
    assert match, f"{base}: expected nvidia/cuda's base flavour (the CUDA math libraries are TF's pip wheels)"
    built_for = tf.sysconfig.get_build_info()["cuda_version"]  # "12.3" for tensorflow 2.16.2
    assert f"{match[1]}.{match[2]}" == built_for


def _lock_packages() -> dict[str, str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"]}


def test_gpu_image_puts_the_driver_and_cuda_wheels_on_the_loader_path():
    env = image_env(GPU_DOCKERFILE)
    libs = env["LD_LIBRARY_PATH"].split(":")
    path = env["PATH"].split(":")
    # GKE's driver mount, before anything else.
    assert libs[0] == "/usr/local/nvidia/lib64" and "/usr/local/nvidia/lib" in libs
    assert "/usr/local/nvidia/bin" in path  # nvidia-smi
    # What the NVIDIA container runtime (Vertex) reads: all GPUs given, libcuda included.
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert {"compute", "utility"} <= set(env["NVIDIA_DRIVER_CAPABILITIES"].split(","))
    # Every CUDA wheel tensorflow[and-cuda] installs (tensorflow/tensorflow#63362: TF 2.16 does
    # not find them by itself), in the venv's site-packages.
    site = f"{env['UV_PROJECT_ENVIRONMENT']}/lib/python3.11/site-packages/nvidia"
    wheels = [n for n in _lock_packages() if re.fullmatch(r"nvidia-.+-cu12", n)]
    assert "nvidia-cudnn-cu12" in wheels and _lock_packages()["nvidia-cudnn-cu12"].startswith("8.9")
    for wheel in wheels:
        directory = wheel.removeprefix("nvidia-").removesuffix("-cu12").replace("-", "_")
        if directory == "cuda_nvcc":
            assert f"{site}/cuda_nvcc/bin" in path  # ptxas
        else:
            assert f"{site}/{directory}/lib" in libs, wheel
    assert path[0] == f"{env['UV_PROJECT_ENVIRONMENT']}/bin"


def test_gpu_image_venv_is_python_311_like_the_cpu_image():
    env = image_env(GPU_DOCKERFILE)
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == "==3.11.*"
    cpu_python = re.fullmatch(r"python:(3\.11\.\d+)-slim-\w+", base_image(CPU_DOCKERFILE))[1]
    # A uv-managed CPython of the same version, installed at build time, never downloaded later.
    assert env["UV_PYTHON"] == cpu_python and env["UV_PYTHON_PREFERENCE"] == "only-managed"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    runs = " ".join(args for op, args in instructions(GPU_DOCKERFILE) if op == "RUN")
    assert f"uv python install {cpu_python}" in runs
    assert "uv sync --frozen --no-dev --extra gpu" in runs
    assert "sys.version_info[:2] == (3, 11)" in runs  # the build itself checks the venv's Python


def test_gke_allocatable_follows_the_reservation_formula():
    cpu, memory = machines.allocatable("g2-standard-4")
    # CPU: 4 - (6% + 1% + 2 x 0.5%) = 3.92; memory: 16 GiB - (25% of 4 + 20% of 4 + 10% of 8) GiB - 100 MiB.
    assert cpu == pytest.approx(3.92)
    assert memory == pytest.approx(16 * machines.GIB - 2.6 * machines.GIB - 100 * machines.MIB, abs=1)
    cpu8, memory8 = machines.allocatable("g2-standard-8")
    assert cpu8 == pytest.approx(8 - 0.08 - 4 * 0.0025)
    assert memory8 == pytest.approx(32 * machines.GIB - (2.6 + 16 * 0.06) * machines.GIB - 100 * machines.MIB, abs=1)
    assert machines.schedulable("g2-standard-4") == (cpu - 0.4, memory - 500 * machines.MIB)


def test_default_trainer_fits_the_default_gpu_node():
    default = Resources().trainer
    assert (default.machine_type, default.gpu_type, default.gpu_count) == ("g2-standard-4", "NVIDIA_L4", 1)
    max_cpu, max_memory = machines.schedulable("g2-standard-4")
    assert machines.cpu_cores(default.cpu) <= max_cpu and machines.memory_bytes(default.memory) <= max_memory


def test_a_whole_machine_request_is_rejected_with_the_allocatable_and_the_fix():
    # 4 CPU / 16G on a 4-vCPU, 16 GiB g2-standard-4: the pod would stay Pending for ever.
    with pytest.raises(ValidationError) as err:
        TaskResources(cpu="4", memory="16G", gpu_count=1, gpu_type="NVIDIA_L4")  # machine from the GPU type
    message = str(err.value)
    assert "g2-standard-4" in message and "3.92 CPU / 13.30 GiB allocatable" in message
    assert "at most 3.52 CPU" in message and "g2-standard-8" in message
    # Through the config as a component reads it: the field path is named.
    data = example_config("chicago_taxi", REPO / "artifacts").model_dump(mode="json")
    data["resources"]["trainer"] = {"cpu": "4", "memory": "16G", "gpu_count": 1, "gpu_type": "NVIDIA_L4"}
    with pytest.raises(ConfigError, match=r"resources\.trainer: requests cpu 4 / memory 16G do not fit"):
        parse_config(data)


@pytest.mark.parametrize(
    ("cpu", "memory", "fits"),
    [
        ("3500m", "13G", True),  # 13e9 bytes < 13.76e9
        ("3.5", "13Gi", False),  # 13 GiB = 13.96e9 bytes: G and Gi differ by 7%
        ("3.6", "4G", False),
        ("3", "12G", True),
    ],
)
def test_quantities_are_compared_in_cores_and_bytes(cpu, memory, fits):
    kwargs = dict(cpu=cpu, memory=memory, gpu_count=1, gpu_type="NVIDIA_L4", machine_type="g2-standard-4")
    if fits:
        TaskResources(**kwargs)
    else:
        with pytest.raises(ValidationError, match="do not fit a g2-standard-4 node"):
            TaskResources(**kwargs)


def test_bigger_or_unknown_machines():
    TaskResources(cpu="7", memory="28G", gpu_count=1, gpu_type="NVIDIA_L4", machine_type="g2-standard-8")
    TaskResources(cpu="3", memory="11G", gpu_count=1, gpu_type="NVIDIA_TESLA_T4", machine_type="n1-standard-4")
    # Not in the table (no shape to check against): accepted as written.
    TaskResources(cpu="11", memory="80G", gpu_count=1, gpu_type="NVIDIA_TESLA_A100", machine_type="a2-highgpu-1g")
    assert TaskResources(cpu="8", memory="30G").machine_type == ""  # CPU tasks: unchecked unless named


def test_trainer_fails_before_reading_data_when_the_gpus_it_was_given_are_not_visible(tmp_path):
    config = example_config("chicago_taxi", tmp_path)
    assert config.resources.trainer.gpu_count == 1
    inputs = trainer.Inputs(transformed_examples=str(tmp_path / "none"), transform_graph=str(tmp_path / "none"), gpus=1)
    outputs = trainer.Outputs(model=str(tmp_path / "model"), model_run=str(tmp_path / "model_run"))
    with pytest.raises(trainer.GpuNotVisible) as err:
        trainer.run(config, inputs, outputs)
    message = str(err.value)
    for checked in (
        "tf.config.list_physical_devices('GPU') = []",
        "libcuda.so.1 does not load",
        "LD_LIBRARY_PATH",
        "/usr/local/nvidia/lib64 (GKE's driver mount) exists: False",
        "CUDA 12.3 / cuDNN 8",
        "images/trainer-gpu.Dockerfile",
        "allow_cpu_fallback: true",
    ):
        assert checked in message
    assert not (tmp_path / "model_run").exists()


def test_cpu_fallback_on_purpose_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tabml"):
        assert trainer.check_gpus(1, allow_cpu_fallback=True) == 0
    assert "allow_cpu_fallback" in caplog.text and "TensorFlow sees 0 GPU(s)" in caplog.text
    assert trainer.check_gpus(0, allow_cpu_fallback=False) == 0  # locally nothing is asked for


def _component_call(uri_root: str, config) -> None:
    trainer_component.python_func(
        config=config.to_json(),
        epochs=1,
        transformed_examples=dsl.Dataset(uri=f"{uri_root}/transform/transformed_examples"),
        transform_graph=dsl.Artifact(uri=f"{uri_root}/transform/transform_graph"),
        model=dsl.Model(uri=f"{uri_root}/trainer/model"),
        model_run=dsl.Artifact(uri=f"{uri_root}/trainer/model_run"),
        training_metrics=dsl.Metrics(uri=f"{uri_root}/trainer/training_metrics"),
    )


def test_the_component_requires_the_gpus_on_a_cluster_only(tmp_path, monkeypatch):
    config = example_config("chicago_taxi", tmp_path)
    # A cluster launcher hands gs:// (Vertex, KFP) or minio:// URIs, read through a local mount.
    monkeypatch.setattr(artifact_types, "_GCS_LOCAL_MOUNT_PREFIX", f"{tmp_path}/gcs/")
    (tmp_path / "gcs/bucket/root/run/trainer").mkdir(parents=True)  # kfp's executor makes it
    with pytest.raises(trainer.GpuNotVisible):
        _component_call("gs://bucket/root/run", config)
    assert "GpuNotVisible" in (tmp_path / "gcs/bucket/root/run/trainer/failure.json").read_text()
    # kfp.local hands local paths and ignores resource requests: no GPU is required, the step
    # goes on (and here fails on the missing input instead).
    with pytest.raises(Exception) as err:
        _component_call(str(tmp_path / "local"), config)
    assert not isinstance(err.value, trainer.GpuNotVisible)
    assert trainer.requested_gpus(config, "minio://mlpipeline/v2/artifacts/x") == 1
    assert trainer.requested_gpus(config, str(tmp_path)) == 0


def test_every_example_config_still_validates():
    for path in sorted((REPO / "examples").glob("*/config.yaml")):
        cfg = example_config(path.parent.name, REPO / "artifacts")
        res = cfg.resources.trainer
        if res.gpu_count:
            assert res.machine_type in machines.MACHINES and not machines.misfit(res.machine_type, res.cpu, res.memory)
