from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def pusher(config: str, data_source: str, model_registry: str, git_commit: str, model: Input[Model],
           blessing: Input[Artifact], schema: Input[Artifact], pushed_model: Output[Artifact]):
    """Copies a blessed model atomically into the versioned registry; pushes nothing otherwise."""
    import os

    from components.common.io import setup_logging
    from components.pusher import executor
    from pipelines.config import parse_config

    setup_logging()
    result = executor.run(parse_config(config), os.path.join(model.path, "Format-Serving"), blessing.path,
                          os.path.join(schema.path, "schema.pbtxt"), pushed_model.path,
                          data_source=data_source, registry=model_registry or None, git_commit=git_commit)
    pushed_model.metadata.update({"tfx_type": "PushedModel", "pushed": int(result.pushed),
                                  "pushed_version": result.version or 0,
                                  "pushed_destination": result.destination or "", "reason": result.reason})
