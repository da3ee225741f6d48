"""The training DAG, built from one PipelineConfig.

What an engineer changes per run is a runtime parameter (visible in the KFP UI): the data
location, epochs, blessing thresholds, registry and git commit. The whole config travels
as the `pipeline_config` parameter (JSON text: one line in each task's log) and is
validated again inside every component.
Gates live inside components (the Pusher reads the blessing) because kfp.local has no
dsl.If; the same DAG then runs locally and on a cluster.
"""

# No `from __future__ import annotations` here: kfp reads the parameter annotations as types.

from typing import Literal

from kfp import dsl, kubernetes

from components.evaluator.component import evaluator
from components.example_gen.component import example_gen
from components.example_validator.component import example_validator
from components.images import Images
from components.pusher.component import pusher
from components.schema_gen.component import schema_gen
from components.statistics_gen.component import statistics_gen
from components.trainer.component import trainer
from components.transform.component import transform
from contracts.config import PipelineConfig, TaskResources

Target = Literal["local", "kfp", "vertex"]
TARGETS: tuple[Target, ...] = ("kfp", "vertex")  # the compiled variants
GPU_TAINT = "nvidia.com/gpu"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"


def thresholds_parameter(config: PipelineConfig) -> dict:
    return {name: t.model_dump(exclude_none=True) for name, t in config.value_thresholds.items()}


def configure_task(task, resources: TaskResources, target: Target, image: str | None, caching: bool, retries: int):
    """Image, resources, GPU placement, caching and retries of one task, per target.
    kfp.local ignores all of these, so the local target sets none."""
    if target == "local":
        return task
    if image:
        task.set_container_image(image)
    task.set_cpu_request(resources.cpu).set_cpu_limit(resources.cpu)
    task.set_memory_request(resources.memory).set_memory_limit(resources.memory)
    if resources.gpu_count:
        task.set_accelerator_limit(resources.gpu_count)
        if target == "vertex":
            task.set_accelerator_type(resources.gpu_type)  # Vertex machine spec: NVIDIA_L4 x N
        else:
            # GKE: request nvidia.com/gpu, land on the GPU node pool, tolerate its taint.
            task.set_accelerator_type(GPU_TAINT)
            kubernetes.add_node_selector(task, GKE_ACCELERATOR_LABEL, resources.gke_accelerator)
            kubernetes.add_toleration(task, key=GPU_TAINT, operator="Exists", effect="NoSchedule")
    task.set_caching_options(caching)
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="60s", backoff_factor=2.0)
    return task


def build_pipeline(
    config: PipelineConfig, target: Target = "local", images: Images | None = None, caching: bool = True
):
    """Returns the @dsl.pipeline function for this config (defaults come from it), set up
    for a target: "local" (kfp.local), "kfp" (Kubeflow on GKE) or "vertex"."""
    res = config.resources

    def setup(task, name: str, trainer: bool = False, retry: bool = True):
        task.set_display_name(name)
        # The GPU image only where a GPU is asked for: it is several GB heavier.
        gpu = trainer and res.trainer.gpu_count > 0
        image = (images.gpu if gpu else images.cpu) if images else None
        return configure_task(
            task, res.trainer if trainer else res.default, target, image, caching, res.retries if retry else 0
        )

    @dsl.pipeline(
        name=config.pipeline_name,
        description=f"Train, evaluate and push {config.model_name}, a {config.label.task} model "
        "(TFX libraries on KFP v2).",
    )
    def training_pipeline(
        data_source: str = config.data.source,
        epochs: int = config.model.epochs,
        value_thresholds: dict = thresholds_parameter(config),
        model_registry: str = config.push.registry,
        git_commit: str = "",
        pipeline_config: str = config.to_json(),
    ):
        gen = setup(example_gen(config=pipeline_config, data_source=data_source), "ExampleGen")
        stats = setup(statistics_gen(config=pipeline_config, examples=gen.outputs["examples"]), "StatisticsGen")
        schema = setup(schema_gen(config=pipeline_config, statistics=stats.outputs["statistics"]), "SchemaGen")
        # The validator compares distinct values with the training data of the model in the registry.
        validate = setup(
            example_validator(
                config=pipeline_config,
                model_registry=model_registry,
                statistics=stats.outputs["statistics"],
                schema=schema.outputs["schema"],
            ),
            "ExampleValidator",
            retry=False,
        )
        tf_transform = setup(
            transform(config=pipeline_config, examples=gen.outputs["examples"], schema=schema.outputs["schema"]),
            "Transform",
        )
        # Nothing is trained on data that failed validation.
        tf_transform.after(validate)
        train = setup(
            trainer(
                config=pipeline_config,
                epochs=epochs,
                transformed_examples=tf_transform.outputs["transformed_examples"],
                transform_graph=tf_transform.outputs["transform_graph"],
            ),
            "Trainer",
            trainer=True,
        )
        # The Evaluator resolves its baseline (the latest blessed model) from the same registry.
        evaluate = setup(
            evaluator(
                config=pipeline_config,
                value_thresholds=value_thresholds,
                model_registry=model_registry,
                examples=gen.outputs["examples"],
                schema=schema.outputs["schema"],
                model=train.outputs["model"],
                statistics=stats.outputs["statistics"],
                anomalies=validate.outputs["anomalies"],
            ),
            "Evaluator",
        )
        setup(
            pusher(
                config=pipeline_config,
                model_registry=model_registry,
                git_commit=git_commit,
                model=train.outputs["model"],
                blessing=evaluate.outputs["blessing"],
                schema=schema.outputs["schema"],
                statistics=stats.outputs["statistics"],
            ),
            "Pusher",
        )

    return training_pipeline
