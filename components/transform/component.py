from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def transform(config: str, examples: Input[Dataset], schema: Input[Artifact],
              transform_graph: Output[Artifact], transformed_examples: Output[Dataset]):
    """tf.Transform analyse + transform on Beam: transform graph and transformed examples."""
    from components.common.io import setup_logging
    from components.transform import executor
    from pipelines.config import parse_config

    setup_logging()
    cfg = parse_config(config)
    executor.run(cfg, examples.path, schema.path, transform_graph.path, transformed_examples.path,
                 [s.name for s in cfg.split.splits])
    transform_graph.metadata["tfx_type"] = "TransformGraph"
    transformed_examples.metadata["tfx_type"] = "Examples"
