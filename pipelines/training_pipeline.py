"""The training DAG, built from one PipelineConfig.

What an engineer changes per run is a runtime parameter (visible in the KFP UI): the data
location, epochs, blessing thresholds, registry and git commit. The whole config travels
as the `pipeline_config` parameter (JSON text: one line in each task's log) and is
validated again inside every component.
Gates live inside components (the Pusher reads the blessing) because kfp.local has no
dsl.If; the same DAG then runs locally and on a cluster.
"""

# No `from __future__ import annotations` here: kfp reads the parameter annotations as types.

from kfp import dsl

from components.evaluator.component import evaluator
from components.example_gen.component import example_gen
from components.example_validator.component import example_validator
from components.pusher.component import pusher
from components.schema_gen.component import schema_gen
from components.statistics_gen.component import statistics_gen
from components.trainer.component import trainer
from components.transform.component import transform
from pipelines.config import PipelineConfig


def thresholds_parameter(config: PipelineConfig) -> dict:
    return {name: t.model_dump(exclude_none=True) for name, t in config.evaluation.value_thresholds.items()}


def build_pipeline(config: PipelineConfig):
    """Returns the @dsl.pipeline function for this config (defaults come from it)."""

    @dsl.pipeline(name=config.pipeline_name,
                  description=f"Train, evaluate and push {config.model_name} (TFX libraries on KFP v2).")
    def training_pipeline(
        data_source: str = config.data.source,
        epochs: int = config.model.epochs,
        value_thresholds: dict = thresholds_parameter(config),
        model_registry: str = config.push.registry,
        git_commit: str = "",
        pipeline_config: str = config.to_json(),
    ):
        gen = example_gen(config=pipeline_config, data_source=data_source).set_display_name("ExampleGen")
        stats = statistics_gen(config=pipeline_config, examples=gen.outputs["examples"]
                               ).set_display_name("StatisticsGen")
        schema = schema_gen(config=pipeline_config, statistics=stats.outputs["statistics"]
                            ).set_display_name("SchemaGen")
        validate = example_validator(config=pipeline_config, statistics=stats.outputs["statistics"],
                                     schema=schema.outputs["schema"]).set_display_name("ExampleValidator")
        tf_transform = transform(config=pipeline_config, examples=gen.outputs["examples"],
                                 schema=schema.outputs["schema"]).set_display_name("Transform")
        # Nothing is trained on data that failed validation.
        tf_transform.after(validate)
        train = trainer(config=pipeline_config, epochs=epochs,
                        transformed_examples=tf_transform.outputs["transformed_examples"],
                        transform_graph=tf_transform.outputs["transform_graph"]).set_display_name("Trainer")
        evaluate = evaluator(config=pipeline_config, value_thresholds=value_thresholds,
                             examples=gen.outputs["examples"], schema=schema.outputs["schema"],
                             model=train.outputs["model"]).set_display_name("Evaluator")
        pusher(config=pipeline_config, data_source=data_source, model_registry=model_registry,
               git_commit=git_commit, model=train.outputs["model"], blessing=evaluate.outputs["blessing"],
               schema=schema.outputs["schema"]).set_display_name("Pusher")

    return training_pipeline
