"""ExampleGen: CSV (plain or gzip) or Parquet rows -> gzipped TFRecord tf.Examples in Split-<name>/.

Like TFX's CsvExampleGen, a column's type is inferred from its text over the whole input
(all values integers -> INT, all numbers -> FLOAT, else BYTES) and an empty cell is an
absent feature. The label is written as the model and TFMA see it (binary 0/1, multiclass
the class index, regression the number), so every later step reads it as a plain column.
Rows go to splits by a hash of the configured key columns, so the same input and config
always give the same splits.

Extra data (the `extra_data` input: RequestWindow's labelled.csv, or any CSV/Parquet of the
same shape) is appended to the data: rows that carry the label under label.name as the world
gave it (a derived label as 0/1, a class name, a number), so it is taken as given, not derived.
Its columns are typed with the data's (one inference over both), split by the same hash.

It is one Apache Beam pipeline (pipeline.py) on the runner `beam_args` name, over batches of
rows: one read of the input infers the column types, one more finds a multiclass label's
classes (when not configured) or the duplicate rows (data.drop_duplicates), one writes: each
split as TFX names its files, data_tfrecord-0000i-of-0000N.gz, N = 1 up to 100,000 input rows
and one more per 100,000 (shards.py), so that later Beam steps can read a split in parallel.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field

import tensorflow as tf

from components.common.io import log, resolve_files, step, write_json
from components.example_gen.fingerprint import files_fingerprint
from components.example_gen.labels import check_label, label_summary
from components.example_gen.pipeline import Part, run_pipeline
from components.example_gen.plan import build_plan
from components.example_gen.stats import Stats
from components.example_gen.values import BYTES, FLOAT, INT, InputDataError, to_example
from contracts.artifacts import EXAMPLE_GEN_SUMMARY, examples_pattern, split_dir
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult

# Used by tests and fixtures: the value types, the error, one row as a tf.Example.
__all__ = ["BYTES", "FLOAT", "INT", "InputDataError", "Inputs", "Outputs", "Result", "run", "to_example"]


@dataclass(frozen=True)
class Inputs:
    data_source: str = ""  # overrides config.data.source (the pipeline's data_source parameter)
    # Labelled rows appended to the data (a file, glob or directory): features + the label as given.
    extra_data: str = ""
    # data_fingerprint(data_source, extra_data) when the run was started (part of the step's cache key);
    # empty: not known. A different one here means the data changed since.
    data_fingerprint: str = ""
    # Beam pipeline options (components/common/beam.py); empty: one in-process DirectRunner worker.
    beam_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outputs:
    examples: str


@dataclass
class Result(ExecutorResult):
    source: str  # what was read: the run's data_source, else the config's
    files: list[str]
    data_fingerprint: str  # of the files read (fingerprint.py)
    column_types: dict[str, str]
    split_counts: dict[str, int]
    label: dict  # name, task, classes, per-split class counts or value summary
    rows_read: int = 0  # the data's and the extra data's
    extra_files: list[str] = field(default_factory=list)
    extra_rows_read: int = 0
    extra_split_counts: dict[str, int] = field(default_factory=dict)  # rows written from extra data
    rows_without_label: int = 0  # label value missing (label.missing: drop)
    undefined_ratio_rows: int = 0  # ratio label: denominator zero/negative/missing
    unseen_class_rows: int = 0  # multiclass: a class the train split does not have
    duplicate_rows: int = 0  # exact copies of an earlier row
    duplicates_dropped: int = 0
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # split -> its shards' pattern


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    source = inputs.data_source or config.data.source
    files = resolve_files(source)
    extra_files = resolve_files(inputs.extra_data) if inputs.extra_data else []
    fingerprint = files_fingerprint(files, extra_files)
    if inputs.data_fingerprint and inputs.data_fingerprint != fingerprint:
        # The cache would file these examples under the old data's fingerprint.
        what = f"{source} (or extra_data {inputs.extra_data})" if extra_files else source
        raise InputDataError(
            f"{what} changed after the run was started (data_fingerprint {inputs.data_fingerprint[:12]}, "
            f"now {fingerprint[:12]}): start the run again, so that its data_fingerprint is the data's"
        )
    parts = [Part(files, config.data.resolved_format(files[0]))]
    log.info("ExampleGen: %d %s file(s) from %s", len(files), parts[0].fmt, source)
    if extra_files:
        parts.append(Part(extra_files, config.data.resolved_format(extra_files[0])))
        log.info("ExampleGen: %d extra file(s) of labelled rows from %s", len(extra_files), inputs.extra_data)
    for name in config.split.names:
        tf.io.gfile.makedirs(split_dir(outputs.examples, name))
    # What the pipeline hands back, where every worker can write it (the artifact's store).
    results = os.path.join(outputs.examples, f".example_gen-{uuid.uuid4().hex}.json")
    try:
        with step("ExampleGen: Beam pipeline: column types, then tf.Examples"):
            outcome = run_pipeline(config, parts, outputs.examples, results, list(inputs.beam_args))
    finally:
        if tf.io.gfile.exists(results):
            tf.io.gfile.remove(results)
    plan = build_plan(config, outcome.observed, [p.files[0] for p in parts])
    stats = outcome.stats
    if stats.problem:
        raise InputDataError(stats.problem.message)
    split_names = config.split.names
    result = Result(
        source=source,
        files=files,
        data_fingerprint=fingerprint,
        column_types=plan.column_types,
        split_counts={n: stats.split_counts.get(n, 0) for n in split_names},
        label={},
        rows_read=stats.rows_read,
        extra_files=extra_files,
        extra_rows_read=stats.extra_rows_read,
        extra_split_counts={n: stats.extra_split_counts.get(n, 0) for n in split_names} if extra_files else {},
        rows_without_label=stats.rows_without_label,
        undefined_ratio_rows=stats.undefined_ratio_rows,
        duplicate_rows=outcome.duplicate_rows,
        duplicates_dropped=stats.duplicates_dropped,
        outputs={n: examples_pattern(outputs.examples, n) for n in split_names},
    )
    described = f"{source} and extra_data {inputs.extra_data}" if extra_files else source
    _finish(config, result, stats, outcome.classes, described)
    write_json(os.path.join(outputs.examples, EXAMPLE_GEN_SUMMARY), result.to_dict())
    return result


def _finish(config: PipelineConfig, result: Result, stats: Stats, classes: list[str], source: str) -> None:
    spec = config.label
    if not result.rows_read:
        raise InputDataError(f"{source}: no data rows (a header only)")
    if result.rows_without_label == result.rows_read:
        raise InputDataError(
            f"{source}: label column '{spec.name}' is empty in every one of the {result.rows_read:,} rows"
        )
    if spec.ratio and result.undefined_ratio_rows == result.rows_read:
        raise InputDataError(
            f"{source}: label '{spec.name}' is undefined in every row: "
            f"'{spec.ratio.denominator}' or '{spec.ratio.numerator}' is empty, zero or negative "
            f"in all {result.rows_read:,} rows"
        )
    if result.rows_without_label:
        message = f"{result.rows_without_label:,} of {result.rows_read:,} rows have no '{spec.name}' value"
        if spec.missing == "error":
            raise InputDataError(f"{source}: {message} (label.missing: error)")
        result.warnings.append(message + ": left out (label.missing: drop)")
    if stats.unseen.found:
        result.unseen_class_rows = stats.unseen.total()
        result.warnings.append(
            f"{result.unseen_class_rows:,} rows have a '{spec.name}' class the train split does not "
            f"have, left out: {dict(stats.unseen.most_common(10))}"
        )
    if result.duplicate_rows:
        result.warnings.append(
            f"{result.duplicate_rows:,} of {result.rows_read:,} rows are exact duplicates of an earlier row"
            + (
                " and were left out (data.drop_duplicates)"
                if result.duplicates_dropped
                else "; set data.drop_duplicates: true to leave them out"
            )
        )
    if spec.ratio and result.undefined_ratio_rows:
        policy = "labelled 0" if spec.ratio.undefined == "negative" else "left out"
        result.warnings.append(
            f"{result.undefined_ratio_rows:,} rows have an undefined {spec.ratio.numerator}/"
            f"{spec.ratio.denominator} ratio: {policy} (label.ratio.undefined)"
        )
    total = sum(result.split_counts.values())
    if not total:
        raise InputDataError(f"{source}: no data rows left to write (read {result.rows_read})")
    empty = [n for n, c in result.split_counts.items() if c == 0]
    if empty:
        raise InputDataError(
            f"split(s) {empty} got no rows from {source}: too little data for the ratios in split.splits"
        )
    counts = {n: stats.class_counts.get(n, Counter()) for n in config.split.names}
    result.label = label_summary(spec, counts, stats.value_summary(config.split.names), classes)
    gate = config.evaluation.fairness_gate
    if gate and gate.class_name and gate.class_name not in classes:
        raise InputDataError(
            f"evaluation.fairness_gate.class_name '{gate.class_name}' is not a class of label "
            f"'{spec.name}'; the classes are {classes}"
        )
    check_label(spec, result.label, stats.seen.most_common(), source)
    for warning in result.warnings:
        log.warning("ExampleGen: %s", warning)
    log.info(
        "ExampleGen: %s rows per split; label %s",
        result.split_counts,
        result.label.get("class_counts", result.label.get("values")),
    )
