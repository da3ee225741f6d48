from kfp import dsl
from kfp.dsl import Dataset, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def example_gen(
    config: str,
    data_source: str,
    beam_args: list,
    examples: Output[Dataset],
    data_fingerprint: str = "",
    extra_data: str = "",
):
    """CSV (plain or gzip) / Parquet -> gzipped tf.Example TFRecords in Split-<name>/ (TFX's Examples layout).
    data_fingerprint: the data's when the run was started (the cache key's part that follows the data).
    extra_data: labelled rows (features + the label as given) appended to the data.
    beam_args: the Beam runner and its options (a remote runner writes the artifact's URI)."""
    import json

    from components.common.beam import artifact_location
    from components.common.io import reported_failure, setup_logging
    from components.example_gen.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("ExampleGen", examples.path):
        result = run(
            parse_config(config),
            Inputs(
                data_source=data_source,
                extra_data=extra_data,
                data_fingerprint=data_fingerprint,
                beam_args=tuple(beam_args),
            ),
            Outputs(examples=artifact_location(examples, beam_args)),
        )
    examples.metadata.update(
        {
            "tfx_type": "Examples",
            "split_names": json.dumps(list(result.split_counts)),
            "split_counts": result.split_counts,
            "source": result.source,
            "data_fingerprint": result.data_fingerprint,
            "duplicate_rows": result.duplicate_rows,
            "extra_data_rows": result.extra_rows_read,
            "extra_split_counts": result.extra_split_counts,
            "warnings": result.warnings,
        }
    )
