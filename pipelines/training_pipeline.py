"""The training DAG, built from one PipelineConfig.

What an engineer changes per run is a runtime parameter (visible in the KFP UI): the data
location, epochs, blessing thresholds, registry and git commit. The whole config travels
as the `pipeline_config` parameter (JSON text: one line in each task's log) and is
validated again inside every component.
Gates live inside components (the Pusher reads the blessing) because kfp.local has no
dsl.If; the same DAG then runs locally and on a cluster. The one dsl.If, the canary analysis
after a KServe push, exists only in the kfp and vertex variants (`tabml canary` runs it locally).

Caching: a step is cached only if its inputs say everything it reads. ExampleValidator and
the Evaluator read the registry (another run may have pushed since) and the Pusher writes to
it: never cached. ExampleGen's data_source is a path, and new data at the same path would be
a stale hit: it is compiled uncached, and `run_caching` turns it on for a run that passes
data_fingerprint (components/example_gen/fingerprint.py), which is then in its cache key.
"""

# No `from __future__ import annotations` here: kfp reads the parameter annotations as types.

import copy
import inspect
from typing import Literal

from kfp import dsl, kubernetes

from components.canary_analysis.component import canary_analysis
from components.evaluator.component import evaluator
from components.example_gen.component import example_gen
from components.example_validator.component import example_validator
from components.images import Images
from components.pusher.canary_component import pusher as canary_pusher
from components.pusher.component import pusher
from components.request_window.component import request_window
from components.schema_gen.component import schema_gen
from components.statistics_gen.component import statistics_gen
from components.trainer.component import trainer
from components.transform.component import transform
from contracts.beam import Runner
from contracts.config import PipelineConfig, TaskResources

Target = Literal["local", "kfp", "vertex"]
TARGETS: tuple[Target, ...] = ("kfp", "vertex")  # the compiled variants
GPU_TAINT = "nvidia.com/gpu"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"  # GKE sets it to the machine type
# Task names in the compiled spec (the component functions' names).
UNCACHED_TASKS = ("example-validator", "evaluator", "pusher")
FINGERPRINTED_TASK = "example-gen"
# The canary analysis after a push (push.kserve, not kfp.local: it has no dsl.If). Its
# parameters are the pipeline's last ones, left out of the signature kfp reads without it.
CANARY_PARAMETERS = ("canary_request_log", "canary_window_minutes", "canary_log_delay_minutes", "canary_act")


def has_canary_analysis(config: PipelineConfig, target: Target) -> bool:
    return config.push.kserve is not None and target != "local"


def without_parameters(func, names: tuple[str, ...]):
    """`func` as kfp reads it: without these trailing parameters, which then keep their defaults
    (kfp passes the pipeline's parameters by position)."""
    signature = inspect.signature(func)
    kept = [p for p in signature.parameters.values() if p.name not in names]
    if list(signature.parameters)[: len(kept)] != [p.name for p in kept]:
        raise TypeError(f"{func.__name__}: the parameters {names} must come last")
    func.__signature__ = signature.replace(parameters=kept)
    return func


def registry_default(config: PipelineConfig, target: Target) -> str:
    """The model_registry parameter's default. On a cluster a local path would be the pod's own
    disk: cloud.model_registry, else push.registry if it is remote, else empty (the steps that
    use the registry then refuse to run and say what to set)."""
    if target == "local":
        return config.push.registry
    return config.cloud.model_registry or (config.push.registry if "://" in config.push.registry else "")


def run_caching(spec: dict, enabled: bool, data_fingerprint: str = "") -> dict:
    """A compiled pipeline spec (a copy) with the caching one run gets: `enabled` for the steps
    whose inputs say all they read, ExampleGen only when the run passes its data_fingerprint,
    never the steps that read or write the registry. For submit and schedule, which must not
    turn caching on for every task (nor pass Vertex's enable_caching, which does)."""
    spec = copy.deepcopy(spec)
    for name, task in spec["root"]["dag"]["tasks"].items():
        # A dsl.If group is no step (the canary analysis': its own steps are compiled uncached).
        uncached = name in UNCACHED_TASKS or "triggerPolicy" in task
        on = enabled and not uncached and (name != FINGERPRINTED_TASK or bool(data_fingerprint))
        task["cachingOptions"] = {"enableCache": True} if on else {}
    return spec


def beam_args_default(
    config: PipelineConfig, target: Target, images: Images | None = None, runner: Runner | None = None
) -> list[str]:
    """The beam_args parameter's default: DirectRunner for local runs (beam.direct), the config's
    runner (or `runner`) on a cluster, whose workers run the pipeline's CPU image (Dataflow)."""
    if target == "local":
        return config.beam.args("direct")
    return config.beam.args(runner, image=images.cpu if images else "")


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
            if resources.machine_type:
                # The request was validated against this machine's allocatable: land on it.
                kubernetes.add_node_selector(task, INSTANCE_TYPE_LABEL, resources.machine_type)
            kubernetes.add_toleration(task, key=GPU_TAINT, operator="Exists", effect="NoSchedule")
    task.set_caching_options(caching)
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="60s", backoff_factor=2.0)
    return task


def multi_worker_trainer(config: PipelineConfig, target: Target, images: Images | None):
    """The Trainer on resources.trainer_workers machines: on Vertex a CustomJob whose worker
    pools google-cloud-pipeline-components builds (the chief, then trainer_workers - 1 workers;
    Vertex sets TF_CONFIG in each, and the Trainer's MultiWorkerMirroredStrategy reads it)."""
    if target != "vertex":
        raise ValueError(
            f"resources.trainer_workers = {config.resources.trainer_workers}: several Trainer workers run on Vertex "
            "(a CustomJob's worker pools); on Kubeflow they need the Training Operator's TFJob, which this "
            "pipeline does not launch: compile --target vertex, or set trainer_workers to 1"
        )
    from google_cloud_pipeline_components.v1.custom_job import create_custom_training_job_from_component

    res = config.resources.trainer
    spec = copy.deepcopy(trainer)
    if images:  # the job's replicas run this image: set it before the component becomes a job
        spec.component_spec.implementation.container.image = images.gpu if res.gpu_count else images.cpu
    return create_custom_training_job_from_component(
        spec,
        display_name=f"{config.pipeline_name}-trainer",
        replica_count=config.resources.trainer_workers,
        machine_type=res.machine_type or "n1-standard-8",
        accelerator_type=res.gpu_type if res.gpu_count else "",
        accelerator_count=res.gpu_count or 1,
    )


def build_pipeline(
    config: PipelineConfig,
    target: Target = "local",
    images: Images | None = None,
    caching: bool = True,
    beam_runner: Runner | None = None,
):
    """Returns the @dsl.pipeline function for this config (defaults come from it), set up
    for a target: "local" (kfp.local), "kfp" (Kubeflow on GKE) or "vertex", with the Beam
    steps on `beam_runner` (default: the config's beam.runner; local runs: DirectRunner)."""
    res = config.resources

    def setup(task, name: str, trainer: bool = False, retry: bool = True, cache: bool = True, ours: bool = True):
        task.set_display_name(name)
        # The GPU image only where a GPU is asked for: it is several GB heavier. A component
        # that is not ours (google-cloud-pipeline-components') keeps its own image.
        gpu = trainer and res.trainer.gpu_count > 0
        image = (images.gpu if gpu else images.cpu) if images and ours else None
        resources = res.trainer if trainer else res.default
        return configure_task(task, resources, target, image, caching and cache, res.retries if retry else 0)

    canary = has_canary_analysis(config, target)

    def training_pipeline(
        data_source: str = config.data.source,
        extra_data: str = "",
        epochs: int = config.model.epochs,
        value_thresholds: dict = thresholds_parameter(config),
        model_registry: str = registry_default(config, target),
        git_commit: str = "",
        data_fingerprint: str = "",
        run_reason: str = "",
        beam_args: list = beam_args_default(config, target, images, beam_runner),
        pipeline_config: str = config.to_json(),
        # CANARY_PARAMETERS, last: see without_parameters.
        canary_request_log: str = "",
        canary_window_minutes: float = 0.0,
        canary_log_delay_minutes: float = 0.0,
        canary_act: bool = True,
    ):
        """The run's parameters (their descriptions are what the KFP UI shows).

        Args:
            data_source: The input data: a CSV (plain or gzip) or Parquet file, a glob or a
                directory; gs:// on a cluster.
            extra_data: Labelled rows appended to the data (a file, glob or directory, e.g. a
                monitoring window's labelled.csv): the features and the label under label.name,
                taken as given (a derived label as 0/1). Empty: the data alone.
            epochs: Training epochs.
            value_thresholds: The blessing's bounds, metric -> {lower_bound, upper_bound}.
            model_registry: Where blessed models are pushed and the baseline is read
                (gs://BUCKET/models on a cluster). Empty: the config has no cloud.model_registry,
                so the run must name one.
            git_commit: The code's commit, recorded with the pushed model.
            data_fingerprint: The data's fingerprint when the run was started (submit fills it
                in). With it ExampleGen may be cached; without it ExampleGen reads the data again.
            run_reason: Why this run was started (the monitor's retrain reasons), recorded with
                the pushed model.
            beam_args: Beam pipeline options of the Beam steps (ExampleGen, StatisticsGen,
                Transform, Evaluator), e.g. --runner=DataflowRunner ... (the config's beam
                section); each step checks them with Beam's option parser first.
            pipeline_config: The whole config as JSON; every step checks it again.
            canary_request_log: Where the predictor's request log lands (Cloud Logging's export
                gs://BUCKET/LOG_ID/, or a path): the canary's window is read from it.
            canary_window_minutes: After a canary push (KServe Serverless), wait this long, then
                compare canary and stable over those minutes of requests. 0: no analysis here
                (RawDeployment has no traffic split: use `tabml canary --baseline`).
            canary_log_delay_minutes: How much longer to wait for the log to land before reading
                it (Cloud Logging's export to Cloud Storage writes hourly files: 60).
            canary_act: Promote or roll back as the analysis decides; false: record the decision only.
        """
        gen = setup(
            example_gen(
                config=pipeline_config,
                data_source=data_source,
                extra_data=extra_data,
                data_fingerprint=data_fingerprint,
                beam_args=beam_args,
            ),
            "ExampleGen",
            cache=False,  # see run_caching
        )
        stats = setup(
            statistics_gen(config=pipeline_config, examples=gen.outputs["examples"], beam_args=beam_args),
            "StatisticsGen",
        )
        schema = setup(schema_gen(config=pipeline_config, statistics=stats.outputs["statistics"]), "SchemaGen")
        # The validator compares distinct values with the training data of the model in the registry.
        validate = setup(
            example_validator(
                config=pipeline_config,
                model_registry=model_registry,
                statistics=stats.outputs["statistics"],
                schema=schema.outputs["schema"],
                examples=gen.outputs["examples"],
            ),
            "ExampleValidator",
            retry=False,
            cache=False,
        )
        tf_transform = setup(
            transform(
                config=pipeline_config,
                examples=gen.outputs["examples"],
                schema=schema.outputs["schema"],
                beam_args=beam_args,
            ),
            "Transform",
        )
        # Nothing is trained on data that failed validation.
        tf_transform.after(validate)
        train_inputs = dict(
            config=pipeline_config,
            epochs=epochs,
            transformed_examples=tf_transform.outputs["transformed_examples"],
            transform_graph=tf_transform.outputs["transform_graph"],
        )
        if config.resources.trainer_workers > 1:
            # This task only starts the CustomJob and waits for it: default resources.
            job = multi_worker_trainer(config, target, images)
            train = setup(job(**train_inputs, location=config.cloud.region or "us-central1"), "Trainer", ours=False)
        else:
            train = setup(trainer(**train_inputs), "Trainer", trainer=True)
        # The Evaluator resolves its baseline (the latest blessed model) from the same registry.
        evaluate = setup(
            evaluator(
                config=pipeline_config,
                value_thresholds=value_thresholds,
                model_registry=model_registry,
                beam_args=beam_args,
                examples=gen.outputs["examples"],
                schema=schema.outputs["schema"],
                model=train.outputs["model"],
                statistics=stats.outputs["statistics"],
                anomalies=validate.outputs["anomalies"],
            ),
            "Evaluator",
            cache=False,
        )
        push = setup(
            (canary_pusher if canary else pusher)(
                config=pipeline_config,
                model_registry=model_registry,
                git_commit=git_commit,
                run_reason=run_reason,
                model=train.outputs["model"],
                blessing=evaluate.outputs["blessing"],
                schema=schema.outputs["schema"],
                statistics=stats.outputs["statistics"],
            ),
            "Pusher",
            cache=False,
        )
        if canary:
            # Serverless: canary and stable serve at once and each logs its version, so the window
            # after the push holds both. Never retried: a retry would wait the window again.
            with dsl.If(canary_window_minutes > 0, "canary-window-set"):
                with dsl.If(push.outputs["canary_version"] != "", "canary-pushed"):
                    window = request_window(
                        config=pipeline_config,
                        request_log=canary_request_log,
                        model_registry=model_registry,
                        wait_minutes=canary_window_minutes,
                        log_delay_minutes=canary_log_delay_minutes,
                    )
                    window = setup(window, "CanaryWindow", retry=False, cache=False)
                    analysis = canary_analysis(
                        config=pipeline_config,
                        window=window.outputs["window"],
                        canary_version=push.outputs["canary_version"],
                        act=canary_act,
                    )
                    setup(analysis, "CanaryAnalysis", retry=False, cache=False)

    pipeline = dsl.pipeline(
        name=config.pipeline_name,
        description=f"Train, evaluate and push {config.model_name}, a {config.label.task} model "
        "(TFX libraries on KFP v2).",
    )
    return pipeline(training_pipeline if canary else without_parameters(training_pipeline, CANARY_PARAMETERS))
