from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def example_validator(
    config: str,
    model_registry: str,
    statistics: Input[Artifact],
    schema: Input[Artifact],
    anomalies: Output[Artifact],
    anomalies_report: Output[Markdown],
    anomalies_view: Output[HTML],
    examples: Input[Dataset] = None,
):
    """TFDV anomalies of every split, and distinct-value growth and drift of the train split
    against the training data of the model in model_registry (monitoring.training_drift:
    warn, block or off); blocking anomalies fail the run with a readable list."""
    from components.common.io import reported_failure, setup_logging
    from components.example_validator.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    anomalies.metadata["tfx_type"] = "ExampleAnomalies"
    with reported_failure("ExampleValidator", anomalies.path):
        result = run(
            parse_config(config),
            Inputs(
                statistics=statistics.path,
                schema=schema.path,
                model_registry=model_registry,
                examples=examples.path if examples is not None else "",
            ),
            Outputs(
                anomalies=anomalies.path, anomalies_report=anomalies_report.path, anomalies_view=anomalies_view.path
            ),
        )
    anomalies.metadata.update(
        {
            "anomaly_count": len(result.anomalies),
            "baseline_version": result.baseline_version or 0,
            "drift_decision": result.drift.decision if result.drift else "not compared",
        }
    )
