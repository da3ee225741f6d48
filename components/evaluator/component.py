from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluator(
    config: str,
    value_thresholds: dict,
    model_registry: str,
    beam_args: list,
    examples: Input[Dataset],
    schema: Input[Artifact],
    model: Input[Model],
    statistics: Input[Artifact],
    anomalies: Input[Artifact],
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
    eval_metrics: Output[Metrics],
    report: Output[HTML],
    summary: Output[Markdown],
    classification: Output[ClassificationMetrics],
):
    """TFMA on the eval split (overall, slices, the task's metrics, Fairness Indicators), against the
    latest blessed model in model_registry when there is one; thresholds and the fairness gate bless."""
    from components.common.beam import artifact_location
    from components.common.io import reported_failure, setup_logging
    from components.evaluator.executor import Inputs, Outputs, run
    from components.evaluator.tfma_config import binary_curves
    from contracts.config import parse_config, parse_thresholds

    setup_logging()
    cfg = parse_config(config)
    evaluation_dir = artifact_location(evaluation, beam_args)
    with reported_failure("Evaluator", evaluation.path):
        result = run(
            cfg,
            Inputs(
                examples=artifact_location(examples, beam_args),
                schema=schema.path,
                model=artifact_location(model, beam_args),
                statistics=statistics.path,
                anomalies=anomalies.path,
                value_thresholds=parse_thresholds(value_thresholds, cfg.label.task),
                model_registry=model_registry,
                beam_args=tuple(beam_args),
            ),
            Outputs(evaluation=evaluation_dir, blessing=blessing.path, report=report.path, summary=summary.path),
        )
    evaluation.metadata["tfx_type"] = "ModelEvaluation"
    blessing.metadata.update(
        {
            "tfx_type": "ModelBlessing",
            "blessed": int(result.blessed),
            "reasons": result.reasons,
            "baseline_version": result.baseline["version"] if result.baseline else 0,
        }
    )
    with_baseline = result.baseline is not None
    if result.task == "binary":
        curves = binary_curves(evaluation_dir, with_baseline=with_baseline)
        classification.log_roc_curve(curves["fpr"], curves["tpr"], curves["thresholds"])
        classification.log_confusion_matrix([f"not {cfg.label.name}", cfg.label.name], curves["matrix"])
    elif result.task == "multiclass":
        classification.log_confusion_matrix(result.label["classes"], result.confusion_matrix)
    for name, value in result.overall_metrics.items():
        if value == value:  # NaN is not JSON; the KFP launcher would reject it
            eval_metrics.log_metric(name, round(value, 6))
