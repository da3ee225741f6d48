"""Every example accounted for: StatisticsGen and Transform fail when a split holds another number
of examples than ExampleGen wrote, and the record counter reads TFX's gzip files exactly."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
import tensorflow as tf

from components.common.counts import ExamplesLost, count_records
from contracts.artifacts import EXAMPLE_GEN_SUMMARY


def _write(path, records: list[bytes]) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP") as w:
        for r in records:
            w.write(r)


def test_counts_records_across_files_and_gzip_members(tmp_path):
    _write(tmp_path / "a.gz", [b"x" * n for n in range(300)])
    _write(tmp_path / "b.gz", [b"y" * 5_000_000, b""])  # a record larger than a read
    (tmp_path / "c.gz").write_bytes((tmp_path / "a.gz").read_bytes() + gzip.compress(b""))  # two members
    files = [str(tmp_path / n) for n in ("a.gz", "b.gz", "c.gz")]
    expected = sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    assert count_records(files) == expected == 602


def test_a_truncated_file_is_named(tmp_path):
    _write(tmp_path / "a.gz", [b"z" * 100] * 50)
    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw[:-7]))
    with pytest.raises(ExamplesLost, match="cut.gz: truncated"):
        count_records([str(tmp_path / "cut.gz")])


@pytest.fixture
def short_summary(chain, tmp_path):
    """The chain's examples, with a summary that claims one train example more than they hold."""
    examples = tmp_path / "examples"
    shutil.copytree(chain.examples, examples)
    summary = json.loads((examples / EXAMPLE_GEN_SUMMARY).read_text())
    held = summary["split_counts"]["train"]
    summary["split_counts"]["train"] = held + 1
    (examples / EXAMPLE_GEN_SUMMARY).write_text(json.dumps(summary))
    return examples, held


def test_statistics_gen_fails_on_a_short_split(chain, short_summary, tmp_path):
    from components.statistics_gen import executor as statistics_gen

    examples, held = short_summary
    with pytest.raises(ExamplesLost) as err:
        statistics_gen.run(
            chain.config,
            statistics_gen.Inputs(examples=str(examples)),
            statistics_gen.Outputs(statistics=str(tmp_path / "statistics")),
        )
    assert f"split train: {held:,} examples, ExampleGen wrote {held + 1:,}" in str(err.value)
    assert "split eval" not in str(err.value)


def test_transform_fails_on_a_short_split_and_counts_a_whole_one(chain, short_summary, tmp_path):
    from components.transform import executor as transform

    examples, held = short_summary
    outputs = transform.Outputs(transform_graph=str(tmp_path / "graph"), transformed_examples=str(tmp_path / "out"))
    short = f"Transform: .*split train: {held:,} examples, ExampleGen wrote {held + 1:,}"
    with pytest.raises(ExamplesLost, match=short):
        transform.run(chain.config, transform.Inputs(examples=str(examples), schema=str(chain.schema)), outputs)
    whole = json.loads((chain.examples / EXAMPLE_GEN_SUMMARY).read_text())["split_counts"]
    assert count_records([str(p) for p in sorted((chain.transformed / "Split-train").glob("*.gz"))]) == whole["train"]


def test_evaluator_fails_on_a_short_eval_split(chain, tmp_path):
    from components.evaluator import executor as evaluator

    examples = tmp_path / "examples"
    shutil.copytree(chain.examples, examples)
    summary = json.loads((examples / EXAMPLE_GEN_SUMMARY).read_text())
    held = summary["split_counts"]["eval"]
    summary["split_counts"]["eval"] = held - 1
    (examples / EXAMPLE_GEN_SUMMARY).write_text(json.dumps(summary))
    inputs = evaluator.Inputs(str(examples), str(chain.schema), str(chain.model), model_registry=str(tmp_path / "r"))
    outputs = evaluator.Outputs(evaluation=str(tmp_path / "evaluation"), blessing=str(tmp_path / "blessing"))
    short = f"Evaluator: .*split eval: {held:,} examples, ExampleGen wrote {held - 1:,}"
    with pytest.raises(ExamplesLost, match=short):
        evaluator.run(chain.config, inputs, outputs)
    assert not (tmp_path / "blessing").exists()  # nothing for the Pusher
