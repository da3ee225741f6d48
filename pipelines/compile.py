"""Compiles a config's pipelines to YAML: one file per pipeline and target,
compiled/<pipeline_name>.<target>.yaml (training) and compiled/<pipeline_name>-monitor.<target>.yaml
(monitoring), for kfp (Kubeflow on GKE) and vertex (Vertex AI Pipelines); the Beam steps on
the config's beam.runner. A beam section for another runner adds a variant with the Beam steps
there: compiled/<pipeline_name>.<runner>.<target>.yaml (Dataflow for both targets, Flink and
other portable runners for kfp only: Vertex has no Flink)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from components.images import Images, images_for
from contracts.beam import Runner
from contracts.config import PipelineConfig
from pipelines.monitoring_pipeline import build_monitoring_pipeline, monitoring_pipeline_name
from pipelines.training_pipeline import TARGETS, Target, build_pipeline

# What compiled/ is generated with (`make compile`); CI delivery passes the real registry
# and the commit's SHA instead.
DEFAULT_IMAGE_REGISTRY = "us-docker.pkg.dev/YOUR_PROJECT/tabml"
DEFAULT_IMAGE_TAG = "latest"
RUNNER_TARGETS: dict[Runner, tuple[Target, ...]] = {"dataflow": TARGETS, "flink": ("kfp",), "portable": ("kfp",)}


def training_variants(config: PipelineConfig) -> list[tuple[Target, Runner | None]]:
    """(target, Beam runner) of every compiled training pipeline; None: the config's beam.runner."""
    # Several Trainer workers: Vertex only (pipelines/training_pipeline.py multi_worker_trainer).
    cluster = ("vertex",) if config.resources.trainer_workers > 1 else TARGETS
    variants: list[tuple[Target, Runner | None]] = [(t, None) for t in cluster]
    for runner, targets in RUNNER_TARGETS.items():
        if runner != config.beam.runner and getattr(config.beam, runner) is not None:
            variants += [(t, runner) for t in targets if t in cluster]
    return variants


def compiled_path(
    config: PipelineConfig, output_dir: str | Path, target: Target, beam_runner: Runner | None = None
) -> Path:
    runner = f".{beam_runner}" if beam_runner else ""
    return Path(output_dir) / f"{config.pipeline_name}{runner}.{target}.yaml"


def compile_pipeline(
    config: PipelineConfig,
    output_dir: str | Path,
    target: Target,
    images: Images | None = None,
    caching: bool = True,
    beam_runner: Runner | None = None,
) -> Path:
    path = compiled_path(config, output_dir, target, beam_runner)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = images or images_for(DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG)
    pipeline = build_pipeline(config, target=target, images=images, caching=caching, beam_runner=beam_runner)
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
    return [compile_pipeline(config, output_dir, t, images, caching, r) for t, r in training_variants(config)]


def compile_all_monitoring(config: PipelineConfig, output_dir: str | Path, images: Images | None = None) -> list[Path]:
    return [compile_monitoring(config, output_dir, t, images) for t in TARGETS]
