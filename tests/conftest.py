"""Shared fixtures: a small real slice of the taxi sample, and the executor chain run on it
once per session (each test then asserts on one step's real outputs)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before anything imports TensorFlow

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import components  # noqa: F401  (sets the TensorFlow environment)
from components.common.io import setup_logging
from pipelines.config import PipelineConfig, load_config

REPO = Path(__file__).resolve().parents[1]
TAXI_CSV = REPO / "data" / "chicago_taxi" / "data.csv"
TAXI_CONFIG = REPO / "configs" / "chicago_taxi.yaml"
SMALL_ROWS = 3000

setup_logging()


def read_taxi(rows: int | None = None) -> pd.DataFrame:
    """The sample as text, exactly as ExampleGen reads it ('' for missing)."""
    return pd.read_csv(TAXI_CSV, dtype=str, keep_default_na=False, nrows=rows)


def taxi_config(tmp: Path, **overrides) -> PipelineConfig:
    """The shipped taxi config with absolute paths (and optional top-level overrides)."""
    data = load_config(TAXI_CONFIG).model_dump(mode="json", exclude_none=True)
    data["validation"]["schema_path"] = str(REPO / data["validation"]["schema_path"])
    data["data"]["source"] = str(TAXI_CSV)
    data["push"]["registry"] = str(tmp / "registry")
    data["model"]["epochs"] = 2
    for key, value in overrides.items():
        data[key] = value if not isinstance(value, dict) else {**data.get(key, {}), **value}
    return PipelineConfig.model_validate(data)


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
    from components.example_gen import executor as example_gen
    from components.schema_gen import executor as schema_gen
    from components.statistics_gen import executor as statistics_gen
    from components.trainer import executor as trainer
    from components.transform import executor as transform

    root = tmp_path_factory.mktemp("chain")
    # 2,400 training rows: small batches and a few epochs give the model enough steps.
    config = taxi_config(root, data={"source": str(small_csv), "format": "csv"},
                         model={"epochs": 6, "batch_size": 64})
    splits = ["train", "eval"]
    example_gen.run(config, str(root / "examples"))
    statistics_gen.run(str(root / "examples"), splits, str(root / "statistics"), str(root / "stats.html"))
    schema_gen.run(config, str(root / "statistics"), str(root / "schema"))
    transform.run(config, str(root / "examples"), str(root / "schema"), str(root / "transform_graph"),
                  str(root / "transformed"), splits)
    result = trainer.run(config, str(root / "transformed"), str(root / "transform_graph"),
                         str(root / "model"), str(root / "model_run"))
    return Chain(config, root, small_csv, root / "examples", root / "statistics", root / "schema",
                 root / "transform_graph", root / "transformed", root / "model", root / "model_run", result)
