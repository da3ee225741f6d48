from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def example_validator(config: str, statistics: Input[Artifact], schema: Input[Artifact],
                      anomalies: Output[Artifact], anomalies_report: Output[Markdown],
                      anomalies_view: Output[HTML]):
    """TFDV anomalies of every split; blocking anomalies fail the run with a readable list."""
    from components.common.io import setup_logging
    from components.example_validator import executor
    from pipelines.config import parse_config

    setup_logging()
    cfg = parse_config(config)
    anomalies.metadata["tfx_type"] = "ExampleAnomalies"
    found = executor.run(statistics.path, schema.path, [s.name for s in cfg.split.splits], anomalies.path,
                         warn_only=cfg.validation.warn_only, markdown_path=anomalies_report.path,
                         html_path=anomalies_view.path)
    anomalies.metadata["anomaly_count"] = len(found)
