from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def monitor(
    config: str,
    model_registry: str,
    window: Input[Dataset],
    statistics: Input[Artifact],
    decision: Output[Artifact],
    report: Output[Markdown],
    view: Output[HTML],
    metrics: Output[Metrics],
):
    """Skew of the window against the served version's training data, drift against the
    previous window, prediction drift and live quality; the decision (retrain, ok, too_small)
    and why in decision.json, for RetrainTrigger."""
    from components.common.io import reported_failure, setup_logging
    from components.monitor.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("Monitor", decision.path):
        result = run(
            parse_config(config),
            Inputs(window=window.path, statistics=statistics.path, model_registry=model_registry),
            Outputs(decision=decision.path, report=report.path, view=view.path),
        )
    decision.metadata.update(
        {
            "decision": result.decision,
            "reasons": result.reasons,
            "model_version": result.model_version,
            "previous_window": result.previous_window,
        }
    )
    for name, value in result.metrics.items():
        metrics.log_metric(name, value)
