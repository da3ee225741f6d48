"""The monitoring DAG: RequestWindow -> Monitor -> RetrainTrigger (which also reads
the window: its labelled rows become the retrain's extra_data), built from one PipelineConfig
and run like the training pipeline (compiled for kfp and vertex, scheduled with `tabml
schedule --package compiled/<pipeline>-monitor.<target>.yaml`, or locally with kfp.local).

Nothing here is cached: the request log grows, and the Monitor and the trigger read and write
the registry (the window history, the trigger log).
"""

# No `from __future__ import annotations` here: kfp reads the parameter annotations as types.

from pathlib import Path

from kfp import dsl

from components.images import Images
from components.monitor.component import monitor
from components.request_window.component import request_window
from components.retrain_trigger.component import retrain_trigger
from contracts.config import PipelineConfig
from pipelines.local_run import LocalRun, _absolute, localise, run_pipeline_locally
from pipelines.training_pipeline import Target, configure_task, registry_default

TASKS = ("request-window", "monitor", "retrain-trigger")


def monitoring_pipeline_name(config: PipelineConfig) -> str:
    return f"{config.pipeline_name}-monitor"


def build_monitoring_pipeline(config: PipelineConfig, target: Target = "local", images: Images | None = None):
    """The @dsl.pipeline function for this config, set up for "local", "kfp" or "vertex"."""
    res = config.resources

    def setup(task, name: str):
        task.set_display_name(name)
        return configure_task(task, res.default, target, images.cpu if images else None, False, 0)

    @dsl.pipeline(
        name=monitoring_pipeline_name(config),
        description=f"Watch {config.model_name} in service: skew, drift, prediction drift and live quality of a "
        "request window; retrain when they say so.",
    )
    def monitoring_pipeline(
        request_log: str = "",
        window_start: str = "",
        window_end: str = "",
        window_hours: float = 24.0,
        labels: str = "",
        model_registry: str = registry_default(config, target),
        retrain_target: str = "record",
        training_package: str = "",
        retrain_params: dict = {},  # noqa: B006 (kfp reads the default from the signature)
        cooldown_hours: float = 24.0,
        kfp_host: str = "",
        vertex_project: str = config.cloud.project,
        vertex_region: str = config.cloud.region or "us-central1",
        retrain_pipeline_root: str = config.cloud.pipeline_root,
        service_account: str = "",
        pipeline_config: str = config.to_json(),
    ):
        """The run's parameters (their descriptions are what the KFP UI shows).

        Args:
            request_log: The predictor's request log: a file, glob or directory, or Cloud
                Logging's export gs://BUCKET/LOG_ID/.
            window_start: The window's start, ISO 8601 UTC; empty: window_hours before its end.
            window_end: The window's end (excluded), ISO 8601 UTC; empty: now.
            window_hours: The window's length when window_start is empty.
            labels: Ground truth that arrived later (CSV or JSON lines with request_id, index and
                the label), joined by request id; empty: no live quality.
            model_registry: Where the served versions are; the window history and the trigger log
                are kept there too.
            retrain_target: record (record the trigger only), local (record it for `tabml monitor`
                to run on this machine), kfp or vertex.
            training_package: The compiled training pipeline a retrain starts (kfp / vertex), gs://
                on a cluster.
            retrain_params: The training run's parameters (data_source, epochs, ...). The window's
                labelled rows are its extra_data unless these name extra_data themselves.
            cooldown_hours: At most one retrain per this many hours.
            kfp_host: [kfp] The KFP API endpoint.
            vertex_project: [vertex] The GCP project.
            vertex_region: [vertex] The region.
            retrain_pipeline_root: [vertex] The training run's gs:// pipeline root.
            service_account: [vertex] The service account the training run executes as.
            pipeline_config: The whole config as JSON; every step checks it again.
        """
        window = setup(
            request_window(
                config=pipeline_config,
                request_log=request_log,
                start=window_start,
                end=window_end,
                window_hours=window_hours,
                labels=labels,
                model_registry=model_registry,
            ),
            "RequestWindow",
        )
        judged = setup(
            monitor(
                config=pipeline_config,
                model_registry=model_registry,
                window=window.outputs["window"],
                statistics=window.outputs["statistics"],
            ),
            "Monitor",
        )
        setup(
            retrain_trigger(
                config=pipeline_config,
                model_registry=model_registry,
                decision=judged.outputs["decision"],
                window=window.outputs["window"],
                target=retrain_target,
                package=training_package,
                params=retrain_params,
                cooldown_hours=cooldown_hours,
                kfp_host=kfp_host,
                vertex_project=vertex_project,
                vertex_region=vertex_region,
                pipeline_root=retrain_pipeline_root,
                service_account=service_account,
            ),
            "RetrainTrigger",
        )

    return monitoring_pipeline


def run_monitor_local(
    config: PipelineConfig,
    pipeline_root: str | Path,
    request_log: str,
    start: str = "",
    end: str = "",
    window_hours: float = 24.0,
    labels: str = "",
    registry: str | None = None,
    retrain_target: str = "record",
    training_package: str = "",
    retrain_params: dict | None = None,
    cooldown_hours: float = 24.0,
    kfp_host: str = "",
) -> LocalRun:
    """The monitoring pipeline under kfp.local (SubprocessRunner, this environment)."""
    config = localise(config)
    return run_pipeline_locally(
        pipeline_root,
        lambda: build_monitoring_pipeline(config)(
            request_log=_absolute(str(request_log)),
            window_start=start,
            window_end=end,
            window_hours=window_hours,
            labels=_absolute(labels),
            model_registry=_absolute(str(registry)) if registry else config.push.registry,
            retrain_target=retrain_target,
            training_package=_absolute(training_package),
            retrain_params=retrain_params or {},
            cooldown_hours=cooldown_hours,
            kfp_host=kfp_host,
            pipeline_config=config.to_json(),
        ),
    )
