from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def transform(
    config: str,
    examples: Input[Dataset],
    schema: Input[Artifact],
    beam_args: list,
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
):
    """tf.Transform analyse + transform on Beam (the generated preprocessing_fn or the user's)."""
    from components.common.beam import artifact_location
    from components.common.io import reported_failure, setup_logging
    from components.transform.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("Transform", transform_graph.path):
        result = run(
            parse_config(config),
            Inputs(examples=artifact_location(examples, beam_args), schema=schema.path, beam_args=tuple(beam_args)),
            Outputs(
                transform_graph=artifact_location(transform_graph, beam_args),
                transformed_examples=artifact_location(transformed_examples, beam_args),
            ),
        )
    transform_graph.metadata.update(
        {
            "tfx_type": "TransformGraph",
            "preprocessing_fn": result.preprocessing_fn,
            "module_sha256": result.module_sha256,
        }
    )
    transformed_examples.metadata["tfx_type"] = "Examples"
