"""Compiles a config's pipeline to YAML (compiled/<pipeline_name>.yaml)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines.config import PipelineConfig
from pipelines.training_pipeline import build_pipeline


def compiled_path(config: PipelineConfig, output_dir: str | Path) -> Path:
    return Path(output_dir) / f"{config.pipeline_name}.yaml"


def compile_pipeline(config: PipelineConfig, output_dir: str | Path) -> Path:
    path = compiled_path(config, output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(config), package_path=str(path))
    return path
