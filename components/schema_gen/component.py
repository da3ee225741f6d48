from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def schema_gen(config: str, statistics: Input[Artifact], schema: Output[Artifact]):
    """The config's curated schema, or one inferred by TFDV; schema.pbtxt."""
    from components.common.io import reported_failure, setup_logging
    from components.schema_gen.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("SchemaGen", schema.path):
        result = run(parse_config(config), Inputs(statistics=statistics.path), Outputs(schema=schema.path))
    schema.metadata.update({"tfx_type": "Schema", "curated": result.origin != "inferred", "origin": result.origin})
