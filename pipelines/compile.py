"""Compiles a config's pipelines to YAML: one file per pipeline and target,
compiled/<pipeline_name>.<target>.yaml (training) and compiled/<pipeline_name>-monitor.<target>.yaml
(monitoring), for kfp (Kubeflow on GKE) and vertex (Vertex AI Pipelines)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from components.images import Images, images_for
from contracts.config import PipelineConfig
from pipelines.monitoring_pipeline import build_monitoring_pipeline, monitoring_pipeline_name
from pipelines.training_pipeline import TARGETS, Target, build_pipeline

# What compiled/ is generated with (`make compile`); CI delivery passes the real registry
# and the commit's SHA instead.
DEFAULT_IMAGE_REGISTRY = "us-docker.pkg.dev/YOUR_PROJECT/tabml"
DEFAULT_IMAGE_TAG = "latest"


def compiled_path(config: PipelineConfig, output_dir: str | Path, target: Target) -> Path:
    return Path(output_dir) / f"{config.pipeline_name}.{target}.yaml"


def compile_pipeline(
    config: PipelineConfig, output_dir: str | Path, target: Target, images: Images | None = None, caching: bool = True
) -> Path:
    path = compiled_path(config, output_dir, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = images or images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    pipeline = build_pipeline(config, target=target, images=images, caching=caching)
    compiler.Compiler().compile(pipeline, package_path=str(path))
    return path


def monitoring_compiled_path(config: PipelineConfig, output_dir: str | Path, target: Target) -> Path:
    return Path(output_dir) / f"{monitoring_pipeline_name(config)}.{target}.yaml"


def compile_monitoring(
    config: PipelineConfig, output_dir: str | Path, target: Target, images: Images | None = None
) -> Path:
    """The monitoring pipeline (never cached: see pipelines/monitoring_pipeline.py)."""
    path = monitoring_compiled_path(config, output_dir, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = images or images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    compiler.Compiler().compile(build_monitoring_pipeline(config, target, images), package_path=str(path))
    return path


def compile_all(
    config: PipelineConfig, output_dir: str | Path, images: Images | None = None, caching: bool = True
) -> list[Path]:
    return [compile_pipeline(config, output_dir, t, images, caching) for t in TARGETS]


def compile_all_monitoring(config: PipelineConfig, output_dir: str | Path, images: Images | None = None) -> list[Path]:
    return [compile_monitoring(config, output_dir, t, images) for t in TARGETS]
