"""StatisticsGen: TFDV statistics for every split (Split-<name>/FeatureStats.pb, as TFX
writes them) and TFDV's Facets view of train vs eval as HTML."""

from __future__ import annotations

import os
from dataclasses import dataclass

from components.common import without

# A step is no notebook. IPython (~1 CPU-s) serves only TFDV's display helpers (an optional
# extra: TFDV runs without it) and Beam's notebook check in run() (no IPython: no notebook).
with without("IPython", notice="Unable to import IPython"):
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.utils.display_util import get_statistics_html

from tfx_bsl.public import tfxio

from components.common.beam import pipeline
from components.common.counts import check_counts, expected_counts
from components.common.io import log, step, write_text
from components.common.readers import load_split_stats
from contracts.artifacts import examples_pattern, split_dir, stats_path
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult


@dataclass(frozen=True)
class Inputs:
    examples: str
    beam_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outputs:
    statistics: str
    statistics_view: str = ""  # TFDV's HTML view, when wanted


@dataclass
class Result(ExecutorResult):
    split_counts: dict[str, int]


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    splits = config.split.names
    options = tfdv.StatsOptions()
    with step(f"StatisticsGen: TFDV statistics for splits {splits}"):
        with without("IPython"), pipeline(list(inputs.beam_args)) as p:
            for split in splits:
                os.makedirs(split_dir(outputs.statistics, split), exist_ok=True)
                source = tfxio.TFExampleRecord(
                    file_pattern=examples_pattern(inputs.examples, split), telemetry_descriptors=["tabml"]
                )
                _ = (
                    p
                    | f"Read[{split}]" >> source.BeamSource()
                    | f"Stats[{split}]" >> tfdv.GenerateStatistics(options)
                    | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(stats_path(outputs.statistics, split))
                )
    counts = {split: int(load_split_stats(outputs.statistics, split).datasets[0].num_examples) for split in splits}
    log.info("StatisticsGen: examples per split %s", counts)
    check_counts("StatisticsGen", "the statistics", counts, expected_counts(inputs.examples), inputs.beam_args)
    if outputs.statistics_view:
        lhs = load_split_stats(outputs.statistics, splits[0])
        rhs = load_split_stats(outputs.statistics, splits[1]) if len(splits) > 1 else None
        html = get_statistics_html(lhs, rhs, lhs_name=splits[0], rhs_name=splits[1] if rhs else "")
        write_text(outputs.statistics_view, html)
    return Result(split_counts=counts)
