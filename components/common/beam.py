"""Beam pipeline options shared by the Beam steps (ExampleGen, StatisticsGen, Transform,
Evaluator): every step runs on whatever runner its `beam_args` name (the config's `beam`
section, contracts/beam.py, or a run's override), checked by Beam's own option parser first."""

from __future__ import annotations

import argparse
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

# One in-process worker: the examples are small, and multi-process DirectRunner costs more
# in start-up (each worker imports TensorFlow) than it saves.
DEFAULT_ARGS = ("--runner=DirectRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory")


class BeamArgsError(ValueError):
    pass


def _parser() -> _BeamArgumentParser:
    # The parser PipelineOptions.get_all_options builds (every options class Beam and its
    # runners register), which only logs "Discarding unparseable args" for unknown ones.
    parser = _BeamArgumentParser(allow_abbrev=False, exit_on_error=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def validate_beam_args(beam_args: list[str] | tuple[str, ...], origin: str = "beam_args") -> list[str]:
    """The args as given, after Beam's parser accepted every one of them: a misspelt flag or a
    bad value is an error here, not a warning Beam logs while the step runs on defaults."""
    args = [str(a) for a in beam_args]
    bad = [a for a in args if not a.startswith("--")]
    if bad:
        raise BeamArgsError(f"{origin}: {bad} are not Beam options (each must look like --name=value)")
    try:
        _, unknown = _parser().parse_known_args(args)
    except argparse.ArgumentError as err:
        raise BeamArgsError(f"{origin}: Beam rejects {err}") from None
    if unknown:
        raise BeamArgsError(
            f"{origin}: Beam does not know {unknown}; see `python -m apache_beam.examples.wordcount --help` "
            "for the options of the installed Beam and its runners"
        )
    return args


def pipeline_options(beam_args: list[str] | tuple[str, ...] | None = None) -> PipelineOptions:
    args = validate_beam_args(beam_args) if beam_args else list(DEFAULT_ARGS)
    return PipelineOptions(args)


def pipeline(beam_args: list[str] | tuple[str, ...] | None = None) -> beam.Pipeline:
    return beam.Pipeline(options=pipeline_options(beam_args))


def runner_of(beam_args: list[str] | tuple[str, ...] | None) -> str:
    runner = "DirectRunner"
    for arg in beam_args or ():
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
    return runner


REMOTE_SCHEMES = ("gs://",)  # what both Beam and this TensorFlow (no tensorflow-io: no s3://) read


def artifact_location(artifact, beam_args: list[str] | tuple[str, ...] | None) -> str:
    """Where a Beam step reads or writes a KFP artifact. DirectRunner: the pod's local path.
    A remote runner (Dataflow, Flink, portable): its workers cannot see the pod's files, so the
    artifact's URI in the pipeline root. KFP's launcher then uploads the (empty) local path
    after the step: it must exist (it stats it), and an empty directory uploads nothing."""
    if runner_of(beam_args) in ("DirectRunner", "direct"):
        return artifact.path
    if not artifact.uri.startswith(REMOTE_SCHEMES):
        raise BeamArgsError(
            f"the {runner_of(beam_args)} workers cannot read or write {artifact.uri!r}: run the pipeline with a "
            f"pipeline root on {' or '.join(REMOTE_SCHEMES)} (Vertex: --pipeline-root; KFP: the pipeline_root of the "
            "run or the cluster's default), or run the Beam steps with --runner=DirectRunner"
        )
    os.makedirs(artifact.path, exist_ok=True)
    return artifact.uri
