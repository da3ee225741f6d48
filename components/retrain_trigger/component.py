from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def retrain_trigger(
    config: str,
    model_registry: str,
    decision: Input[Artifact],
    window: Input[Dataset],
    result: Output[Artifact],
    target: str = "record",
    package: str = "",
    params: dict = {},  # noqa: B006 (kfp reads the default from the signature; never mutated)
    cooldown_hours: float = 24.0,
    kfp_host: str = "",
    experiment: str = "tabml-retrain",
    vertex_project: str = "",
    vertex_region: str = "us-central1",
    pipeline_root: str = "",
    service_account: str = "",
):
    """When the monitor decided "retrain", start a training run (target kfp: kfp.Client,
    vertex: PipelineJob, record / local: record only) of the compiled training package, at most
    once per cooldown_hours; the reason becomes the run's run_reason, and the window's labelled
    rows its extra_data (read at the window's URI: the run's pods cannot see this pod's /gcs)."""
    from components.common.io import reported_failure, setup_logging
    from components.retrain_trigger.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("RetrainTrigger", result.path):
        outcome = run(
            parse_config(config),
            Inputs(
                decision=decision.path,
                window=window.path,
                window_uri=window.uri,
                model_registry=model_registry,
                target=target,
                package=package,
                params=dict(params),
                cooldown_hours=cooldown_hours,
                kfp_host=kfp_host,
                experiment=experiment,
                vertex_project=vertex_project,
                vertex_region=vertex_region,
                pipeline_root=pipeline_root,
                service_account=service_account,
            ),
            Outputs(result=result.path),
        )
    result.metadata.update(
        {
            "triggered": outcome.triggered,
            "reason": outcome.reason,
            "run": outcome.run,
            "labelled_rows": outcome.labelled_rows,
        }
    )
