from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def evaluator(config: str, value_thresholds: dict, model_registry: str, examples: Input[Dataset],
              schema: Input[Artifact], model: Input[Model], statistics: Input[Artifact], anomalies: Input[Artifact],
              evaluation: Output[Artifact], blessing: Output[Artifact], eval_metrics: Output[Metrics],
              report: Output[HTML], summary: Output[Markdown], classification: Output[ClassificationMetrics]):
    """TFMA on the eval split (overall, slices, FairnessIndicators), against the latest blessed
    model in model_registry when there is one; thresholds and the fairness gate decide the blessing."""
    import os

    from components.common.io import setup_logging
    from components.evaluator import executor
    from pipelines.config import parse_config, parse_thresholds

    setup_logging()
    thresholds = parse_thresholds(value_thresholds)
    result = executor.run(parse_config(config), os.path.join(model.path, "Format-Serving"), examples.path,
                          schema.path, evaluation.path, blessing.path, thresholds=thresholds,
                          registry=model_registry or None)
    evaluation.metadata["tfx_type"] = "ModelEvaluation"
    blessing.metadata.update({"tfx_type": "ModelBlessing", "blessed": int(result.blessed),
                              "reasons": result.reasons,
                              "baseline_version": result.baseline["version"] if result.baseline else 0})
    cfg = parse_config(config)
    executor.write_reports(blessing.path, report.path, summary.path, cfg, statistics.path, anomalies.path)
    curves = executor.classification_curves(evaluation.path, with_baseline=result.baseline is not None)
    classification.log_roc_curve(curves["fpr"], curves["tpr"], curves["thresholds"])
    label = cfg.label.name
    classification.log_confusion_matrix([f"not {label}", label], curves["matrix"])
    for name, value in result.overall_metrics.items():
        if value == value:  # NaN is not JSON; the KFP launcher would reject it
            eval_metrics.log_metric(name, round(value, 6))
