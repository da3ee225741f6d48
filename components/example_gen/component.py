from kfp import dsl
from kfp.dsl import Dataset, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def example_gen(config: str, data_source: str, examples: Output[Dataset]):
    """CSV/Parquet -> gzipped tf.Example TFRecords in Split-<name>/ (TFX's Examples layout)."""
    import json

    from components.common.io import setup_logging
    from components.example_gen import executor
    from pipelines.config import parse_config

    setup_logging()
    result = executor.run(parse_config(config), examples.path, source=data_source or None)
    examples.metadata.update({"tfx_type": "Examples", "split_names": json.dumps(list(result.split_counts)),
                              "split_counts": result.split_counts, "label_positive": result.label_positive})
