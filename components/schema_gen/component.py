from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def schema_gen(config: str, statistics: Input[Artifact], schema: Output[Artifact]):
    """The config's curated schema, or one inferred by TFDV; schema.pbtxt."""
    from components.common.io import setup_logging
    from components.schema_gen import executor
    from pipelines.config import parse_config

    setup_logging()
    cfg = parse_config(config)
    executor.run(cfg, statistics.path, schema.path)
    schema.metadata.update({"tfx_type": "Schema", "curated": bool(cfg.validation.schema_path)})
