"""Beam pipeline options shared by the Beam-based executors."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions


def pipeline(beam_args: list[str] | None = None) -> beam.Pipeline:
    # DirectRunner in one process by default: the examples are small, and multi-process
    # DirectRunner costs more in start-up than it saves. Pass e.g. ["--runner=DataflowRunner",
    # ...] to scale out.
    args = beam_args or ["--runner=DirectRunner", "--direct_num_workers=1"]
    return beam.Pipeline(options=PipelineOptions(args))
