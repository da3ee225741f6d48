"""resources.trainer_workers > 1 compiles the Vertex Trainer into a CustomJob whose worker
pools google-cloud-pipeline-components builds; the Vertex API's own types accept them."""

from __future__ import annotations

import json

import pytest
import yaml

from components.images import images_for
from contracts.config import load_config, parse_config
from pipelines.compile import DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG, compile_pipeline, training_variants
from tests.conftest import TAXI_CONFIG


def whole_as_int(text: str):
    value = float(text)
    return int(value) if value.is_integer() else value


def with_workers(n: int):
    raw = load_config(TAXI_CONFIG).model_dump(mode="json")
    raw["resources"]["trainer_workers"] = n
    return parse_config(raw)


def test_vertex_trainer_is_a_custom_job_with_chief_and_worker_pools(tmp_path):
    from google.cloud.aiplatform_v1.types import CustomJobSpec

    cfg = with_workers(3)
    spec = yaml.safe_load(compile_pipeline(cfg, tmp_path, "vertex").read_text())
    trainer = spec["root"]["dag"]["tasks"]["trainer"]
    component = spec["components"][trainer["componentRef"]["name"]]
    pools = component["inputDefinitions"]["parameters"]["worker_pool_specs"]["defaultValue"]
    assert [p["replica_count"] for p in pools] == [1, 2]  # the chief, then the workers
    images = images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    res = cfg.resources.trainer
    for pool in pools:
        assert pool["container_spec"]["image_uri"] == images.gpu
        assert pool["machine_spec"] == {
            "machine_type": res.machine_type,
            "accelerator_type": res.gpu_type,
            "accelerator_count": res.gpu_count,
        }
        # Each replica runs the Trainer component itself (the KFP executor).
        assert "kfp.dsl.executor_main" in " ".join(pool["container_spec"]["command"])
    # Vertex fills the payload placeholder with the default as JSON (Go's protojson writes the
    # spec's whole doubles as integers); gcpc's launcher hands the parsed dict to the Vertex
    # client, whose request type must take it.
    job = CustomJobSpec(worker_pool_specs=json.loads(json.dumps(pools), parse_float=whole_as_int))
    assert job.worker_pool_specs[1].replica_count == 2
    assert job.worker_pool_specs[0].machine_spec.accelerator_type.name == res.gpu_type
    # The launcher task keeps gcpc's image: only the job's replicas run ours.
    executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    assert executor["image"] != images.gpu and "custom_job" in json.dumps(executor["command"])


def test_kfp_target_refuses_several_workers_and_compile_skips_it(tmp_path):
    cfg = with_workers(2)
    assert {t for t, _ in training_variants(cfg)} == {"vertex"}
    with pytest.raises(ValueError, match="Training Operator's TFJob"):
        compile_pipeline(cfg, tmp_path, "kfp")
