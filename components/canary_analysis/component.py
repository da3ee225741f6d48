from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def canary_analysis(
    config: str,
    window: Input[Dataset],
    analysis: Output[Artifact],
    metrics: Output[Metrics],
    baseline_window: Input[Dataset] = None,
    canary_version: str = "",
    stable_version: str = "",
    act: bool = False,
    namespace: str = "",
    name: str = "",
):
    """Canary vs stable over a request window: promote, rollback or inconclusive (analysis.json +
    analysis.md); act: carry it out on the InferenceService (push.kserve, or namespace/name).
    baseline_window: the stable version's own window (RawDeployment has no traffic split).
    metrics: the checks' numbers (KFP Metrics: the run's UI compares them across runs)."""
    import math
    from numbers import Real

    from components.canary_analysis.executor import Inputs, Outputs, run
    from components.common.io import reported_failure, setup_logging
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("CanaryAnalysis", analysis.path):
        result = run(
            parse_config(config),
            Inputs(
                window=window.path,
                baseline_window=baseline_window.path if baseline_window is not None else "",
                canary_version=canary_version,
                stable_version=stable_version,
                act=act,
                namespace=namespace,
                name=name,
            ),
            Outputs(analysis=analysis.path),
        )
    analysis.metadata.update(
        {
            "decision": result.decision,
            "action": result.action,
            "canary_version": result.canary_version,
            "stable_version": result.stable_version,
            "canary_requests": result.requests["canary"],
            "stable_requests": result.requests["stable"],
            "reasons": "; ".join(result.reasons),
        }
    )
    metrics.log_metric("canary_requests", result.requests["canary"])
    metrics.log_metric("stable_requests", result.requests["stable"])
    for check in result.checks:  # each check's own scalars (error_rate.z, predictions.distance, ...)
        for key, value in check["numbers"].items():
            if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
                metrics.log_metric(f"{check['name']}.{key}", float(value))
