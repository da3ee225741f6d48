from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def trainer(
    config: str,
    epochs: int,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Output[Model],
    model_run: Output[Artifact],
    training_metrics: Output[Metrics],
):
    """Trains with the user's run_fn or the generated one; SavedModel in Format-Serving/ with the
    transform graph and two signatures; TensorBoard logs in model_run."""
    from components.common.io import reported_failure, setup_logging
    from components.trainer.executor import Inputs, Outputs, requested_gpus, run
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("Trainer", model.path):
        cfg = parse_config(config)
        result = run(
            cfg,
            Inputs(
                transformed_examples=transformed_examples.path,
                transform_graph=transform_graph.path,
                epochs=epochs,
                # On a cluster the pod asked for the config's GPUs; kfp.local asks for none.
                gpus=requested_gpus(cfg, model.uri),
            ),
            Outputs(model=model.path, model_run=model_run.path),
        )
    if not result.chief:
        # Another replica of a multi-worker CustomJob (Vertex runs this component in each): the
        # chief alone reports the model. Leave before KFP's executor writes this task's outputs
        # over the chief's (the same executor input, the same output file).
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    model.metadata.update({"tfx_type": "Model", "serving_dir": "Format-Serving", "run_fn": result.run_fn})
    model_run.metadata.update({"tfx_type": "ModelRun", "strategy": result.strategy, "workers": result.workers})
    for name, value in result.final_metrics.items():
        if value == value:  # NaN is not JSON; the KFP launcher would reject it
            training_metrics.log_metric(name, round(value, 6))
    training_metrics.log_metric("examples_per_second", result.examples_per_second)
