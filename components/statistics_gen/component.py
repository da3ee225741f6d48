from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def statistics_gen(
    config: str,
    examples: Input[Dataset],
    beam_args: list,
    statistics: Output[Artifact],
    statistics_view: Output[HTML],
):
    """TFDV statistics per split (Split-<name>/FeatureStats.pb) and TFDV's HTML view, on the
    Beam runner beam_args name (a remote runner reads and writes the artifacts' URIs)."""
    from components.common.beam import artifact_location
    from components.common.io import reported_failure, setup_logging
    from components.statistics_gen.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("StatisticsGen", statistics.path):
        result = run(
            parse_config(config),
            Inputs(examples=artifact_location(examples, beam_args), beam_args=tuple(beam_args)),
            Outputs(statistics=artifact_location(statistics, beam_args), statistics_view=statistics_view.path),
        )
    statistics.metadata.update({"tfx_type": "ExampleStatistics", "split_counts": result.split_counts})
