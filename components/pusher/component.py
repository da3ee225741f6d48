from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def pusher(
    config: str,
    model_registry: str,
    git_commit: str,
    run_reason: str,
    model: Input[Model],
    blessing: Input[Artifact],
    schema: Input[Artifact],
    statistics: Input[Artifact],
    pushed_model: Output[Artifact],
):
    """Copies a blessed model atomically into the versioned registry; pushes nothing otherwise."""
    from components.common.io import reported_failure, setup_logging
    from components.pusher.executor import Inputs, Outputs, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("Pusher", pushed_model.path):
        result = run(
            parse_config(config),
            Inputs(
                model=model.path,
                blessing=blessing.path,
                schema=schema.path,
                statistics=statistics.path,
                model_registry=model_registry,
                git_commit=git_commit,
                run_reason=run_reason,
            ),
            Outputs(pushed_model=pushed_model.path),
        )
    pushed_model.metadata.update(
        {
            "tfx_type": "PushedModel",
            "pushed": int(result.pushed),
            "pushed_version": result.version or 0,
            "pushed_destination": result.destination or "",
            "reason": result.reason,
        }
    )
