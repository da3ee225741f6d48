"""StatisticsGen: TFDV statistics for every split (Split-<name>/FeatureStats.pb, as TFX
writes them) and TFDV's Facets view of train vs eval as HTML."""

from __future__ import annotations

import os

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils.display_util import get_statistics_html
from tfx_bsl.public import tfxio

from components.common.beam import pipeline
from components.common.io import examples_pattern, log, split_dir, step, write_text

STATS_FILE = "FeatureStats.pb"


def stats_path(stats_root: str, split: str) -> str:
    return os.path.join(split_dir(stats_root, split), STATS_FILE)


def load_split_stats(stats_root: str, split: str):
    return tfdv.load_stats_binary(stats_path(stats_root, split))


def run(examples_dir: str, splits: list[str], output_dir: str, html_path: str | None = None,
        beam_args: list[str] | None = None) -> dict[str, int]:
    """Writes statistics per split; returns the example count of each."""
    options = tfdv.StatsOptions()
    with step(f"StatisticsGen: TFDV statistics for splits {splits}"):
        with pipeline(beam_args) as p:
            for split in splits:
                os.makedirs(split_dir(output_dir, split), exist_ok=True)
                source = tfxio.TFExampleRecord(file_pattern=examples_pattern(examples_dir, split),
                                               telemetry_descriptors=["taxi_mlops"])
                _ = (p
                     | f"Read[{split}]" >> source.BeamSource()
                     | f"Stats[{split}]" >> tfdv.GenerateStatistics(options)
                     | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(stats_path(output_dir, split)))
    counts = {}
    for split in splits:
        stats = load_split_stats(output_dir, split)
        counts[split] = int(stats.datasets[0].num_examples)
    log.info("StatisticsGen: examples per split %s", counts)
    if html_path:
        lhs = load_split_stats(output_dir, splits[0])
        rhs = load_split_stats(output_dir, splits[1]) if len(splits) > 1 else None
        html = get_statistics_html(lhs, rhs, lhs_name=splits[0], rhs_name=splits[1] if rhs else "")
        write_text(html_path, html)
    return counts
