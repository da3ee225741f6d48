"""The Pusher for configs with push.kserve: the same step, also saying which version it started
as a canary, so that the pipeline can analyse that canary (dsl.If on `canary_version`).

A second component rather than an output added to the Pusher: configs without push.kserve
compile exactly as before. It keeps the task name `pusher` (the function's name), which the
local run directory and the caching rules go by.
"""

from typing import NamedTuple

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
) -> NamedTuple("PusherOutputs", [("canary_version", str)]):
    """Copies a blessed model atomically into the versioned registry and rolls it out to the
    InferenceService; canary_version: the version now serving as a canary beside the stable
    one (Serverless mode, canary_percent > 0), else empty."""
    import os

    from components.common.io import read_json
    from components.pusher.component import pusher as push_step
    from contracts.artifacts import PUSH_RESULT

    push_step.python_func(
        config=config,
        model_registry=model_registry,
        git_commit=git_commit,
        run_reason=run_reason,
        model=model,
        blessing=blessing,
        schema=schema,
        statistics=statistics,
        pushed_model=pushed_model,
    )
    result = read_json(os.path.join(pushed_model.path, PUSH_RESULT))
    rollout = result.get("kserve") or {}
    # RawDeployment ("updated") and a first deploy ("created") have no stable beside the new
    # version; a 0% canary serves nothing to judge.
    canary = result["pushed"] and rollout.get("action") == "canary" and (rollout.get("canary_percent") or 0) > 0
    pushed_model.metadata["canary_version"] = str(result["version"]) if canary else ""
    return (pushed_model.metadata["canary_version"],)
