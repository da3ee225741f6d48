"""Shared fixtures: a small real slice of the Chicago taxi example, and the executor chain run
on it once per session (each test then asserts on one step's real outputs)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before anything imports TensorFlow

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import components  # noqa: F401  (sets the TensorFlow environment)
from components.common.io import setup_logging
from contracts.config import PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
TAXI_CSV = EXAMPLES / "chicago_taxi" / "data.csv"
TAXI_CONFIG = EXAMPLES / "chicago_taxi" / "config.yaml"
SMALL_ROWS = 3000

setup_logging()


def read_taxi(rows: int | None = None) -> pd.DataFrame:
    """The sample as text, exactly as ExampleGen reads it ('' for missing)."""
    return pd.read_csv(TAXI_CSV, dtype=str, keep_default_na=False, nrows=rows)


def example_config(name: str, tmp: Path, **overrides) -> PipelineConfig:
    """A shipped example's config with absolute paths (and optional top-level overrides)."""
    data = load_config(EXAMPLES / name / "config.yaml").model_dump(mode="json", exclude_none=True)
    if data["validation"].get("schema_path"):
        data["validation"]["schema_path"] = str(REPO / data["validation"]["schema_path"])
    data["data"]["source"] = str(REPO / data["data"]["source"])
    data["push"]["registry"] = str(tmp / "registry")
    for key, value in overrides.items():
        data[key] = value if not isinstance(value, dict) else {**data.get(key, {}), **value}
    return PipelineConfig.model_validate(data)


def taxi_config(tmp: Path, **overrides) -> PipelineConfig:
    """The shipped taxi config with absolute paths, 2 epochs (and optional top-level overrides)."""
    return example_config("chicago_taxi", tmp, **({"model": {"epochs": 2}} | overrides))


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "taxi_small.csv"
    read_taxi(SMALL_ROWS).to_csv(path, index=False)
    return path


@dataclass
class Chain:
    """Outputs of every executor on the small sample, in TFX's layouts."""

    config: PipelineConfig
    root: Path
    csv: Path
    examples: Path
    statistics: Path
    schema: Path
    transform_graph: Path
    transformed: Path
    model: Path
    model_run: Path
    train_result: object


@pytest.fixture(scope="session")
def chain(tmp_path_factory, small_csv) -> Chain:
    root = tmp_path_factory.mktemp("chain")
    # 2,400 training rows: small batches and a few epochs give the model enough steps.
    config = taxi_config(root, data={"source": str(small_csv), "format": "csv"}, model={"epochs": 6, "batch_size": 64})
    return run_chain(config, root, small_csv)


def run_chain(config: PipelineConfig, root: Path, csv: Path | None = None) -> Chain:
    """ExampleGen ... Trainer, each executor called directly, outputs under root."""
    from components.example_gen import executor as example_gen
    from components.schema_gen import executor as schema_gen
    from components.statistics_gen import executor as statistics_gen
    from components.trainer import executor as trainer
    from components.transform import executor as transform

    example_gen.run(config, example_gen.Inputs(), example_gen.Outputs(examples=str(root / "examples")))
    statistics_gen.run(
        config,
        statistics_gen.Inputs(examples=str(root / "examples")),
        statistics_gen.Outputs(statistics=str(root / "statistics"), statistics_view=str(root / "stats.html")),
    )
    schema_gen.run(
        config, schema_gen.Inputs(statistics=str(root / "statistics")), schema_gen.Outputs(schema=str(root / "schema"))
    )
    transform.run(
        config,
        transform.Inputs(examples=str(root / "examples"), schema=str(root / "schema")),
        transform.Outputs(
            transform_graph=str(root / "transform_graph"), transformed_examples=str(root / "transformed")
        ),
    )
    result = trainer.run(
        config,
        trainer.Inputs(transformed_examples=str(root / "transformed"), transform_graph=str(root / "transform_graph")),
        trainer.Outputs(model=str(root / "model"), model_run=str(root / "model_run")),
    )
    return Chain(
        config,
        root,
        csv or Path(config.data.source),
        root / "examples",
        root / "statistics",
        root / "schema",
        root / "transform_graph",
        root / "transformed",
        root / "model",
        root / "model_run",
        result,
    )


def evaluate(chain: Chain, config: PipelineConfig, root: Path, **inputs):
    """The Evaluator on a chain's model, outputs under root."""
    from components.evaluator import executor as evaluator

    return evaluator.run(
        config,
        evaluator.Inputs(examples=str(chain.examples), schema=str(chain.schema), model=str(chain.model), **inputs),
        evaluator.Outputs(evaluation=str(root / "evaluation"), blessing=str(root / "blessing")),
    )


def push(
    chain: Chain, config: PipelineConfig, blessing_dir: Path, out: Path, registry: str | Path = "", git_commit: str = ""
):
    """The Pusher on a chain's model and a blessing."""
    from components.pusher import executor as pusher

    return pusher.run(
        config,
        pusher.Inputs(
            model=str(chain.model),
            blessing=str(blessing_dir),
            schema=str(chain.schema),
            statistics=str(chain.statistics),
            model_registry=str(registry),
            git_commit=git_commit,
        ),
        pusher.Outputs(pushed_model=str(out)),
    )


@pytest.fixture(scope="session")
def penguins_chain(tmp_path_factory) -> Chain:
    """The multiclass example (its whole data: 344 rows), through the Trainer."""
    root = tmp_path_factory.mktemp("penguins")
    return run_chain(example_config("penguins", root, model={"epochs": 15}), root)


@pytest.fixture(scope="session")
def mpg_chain(tmp_path_factory) -> Chain:
    """The regression example (gzipped CSV, 406 rows), through the Trainer."""
    root = tmp_path_factory.mktemp("auto_mpg")
    return run_chain(example_config("auto_mpg", root, model={"epochs": 30}), root)


@pytest.fixture(scope="session")
def user_code_chain(tmp_path_factory) -> Chain:
    """The penguins example with the user's module file (preprocessing_fn and run_fn)."""
    root = tmp_path_factory.mktemp("user_code")
    config = example_config("penguins_user_code", root, model={"epochs": 10})
    data = config.model_dump(mode="json", exclude_none=True)
    data["user_code"]["module_file"] = str(REPO / data["user_code"]["module_file"])
    return run_chain(PipelineConfig.model_validate(data), root)
