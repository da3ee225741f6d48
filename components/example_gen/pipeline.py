"""ExampleGen's Beam pipeline: one job whose branches each read the input files.

1. Column types: each CSV batch's kinds of value, combined (Parquet's come from the schemas,
   read before the job), give the Plan: each input's column types, or the error that stops
   the run before anything is written.
2. Only for a multiclass label without configured classes, or data.drop_duplicates: the train
   split's classes, and the positions of rows that copy an earlier row.
3. Each batch -> its tf.Examples per split and its counts; the examples grouped by shard (the
   rows counted in pass 1 cut into equal ranges, shards.py), each shard written as one file.

Every element is a batch of rows (a pyarrow RecordBatch), never a single row. What the run needs
back (what the type pass observed, the classes, the counts) is written as one JSON file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from components.common import beam as common_beam
from components.example_gen import shards
from components.example_gen.batch import prepare, to_examples, train_classes
from components.example_gen.encode import tfrecords
from components.example_gen.labels import At
from components.example_gen.plan import Plan, observed_from_json, observed_to_json, plan_or_error
from components.example_gen.read import Observed, Problem, Source, csv_kinds, parquet_observed, read_batches
from components.example_gen.stats import Stats, keyed_rows, later_copies, stats_from_json, stats_to_json
from components.example_gen.values import FLOAT, INT
from contracts.artifacts import split_dir
from contracts.config import PipelineConfig

_PROBLEMS, _STATS, _KEYS, _CLASSES, _EXAMPLES = "problems", "stats", "keys", "classes", "examples"


@dataclass(frozen=True)
class Part:
    """One input: the data (part 0) or the extra data (part 1), all read as its first file's format."""

    files: list[str]
    fmt: str

    def sources(self, part: int) -> list[Source]:
        return [Source(part, i, path, self.fmt) for i, path in enumerate(self.files)]


@dataclass
class Outcome:
    observed: list[Observed]
    classes: list[str]
    stats: Stats
    duplicate_rows: int


class _Read(beam.DoFn):
    def __init__(self, missing_values: list[str]):
        self._missing = list(missing_values)

    def process(self, source: Source):
        for item in read_batches(source, self._missing):
            if isinstance(item, Problem):
                yield beam.pvalue.TaggedOutput(_PROBLEMS, item)
            else:
                yield source, item[0], item[1]


def _at(source: Source, row: int) -> At:
    return At(source.part, source.index, row, source.path)


class _Observe(beam.CombineFn):
    """Per CSV part: each file's header, each column's kinds of value, the first problem."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, item):
        if isinstance(item, Problem):
            part = acc.setdefault(item.key[0], {"headers": {}, "kinds": {}, "problems": []})
            part["problems"].append(item)
            return acc
        source, header, kinds = item
        part = acc.setdefault(source.part, {"headers": {}, "kinds": {}, "problems": []})
        part["headers"][source.index] = (source.path, header)
        for col, k in kinds.items():
            part["kinds"].setdefault(col, set()).update(k)
        return acc

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for acc in accumulators:
            for key, part in acc.items():
                mine = merged.setdefault(key, {"headers": {}, "kinds": {}, "problems": []})
                mine["headers"].update(part["headers"])
                mine["problems"] += part["problems"]
                for col, k in part["kinds"].items():
                    mine["kinds"].setdefault(col, set()).update(k)
        return merged

    def extract_output(self, acc):
        return {key: observed_to_json(_observed(key, part)) for key, part in acc.items()}


def _observed(key: int, part: dict) -> Observed:
    problems = list(part["problems"])
    headers = sorted(part["headers"].items())
    first = headers[0][1][1] if headers else None
    for index, (path, header) in headers[1:]:
        if header != first:
            message = f"{path}: columns {header} differ from the first file's {first}"
            problems.append(Problem((key, index, -1, -1, -1), message))
    problem = min(problems) if problems else None
    if first is None:
        return Observed(problem=problem)
    return Observed(first, {c: part["kinds"].get(c, set()) for c in first}, problem)


class _Merge(beam.CombineFn):
    """Stats of every batch, merged."""

    def create_accumulator(self):
        return Stats()

    def add_input(self, acc, item):
        return acc.merge(item)

    def merge_accumulators(self, accumulators):
        out = Stats()
        for acc in accumulators:
            out.merge(acc)
        return out

    def extract_output(self, acc):
        return stats_to_json(acc)


class _Prepass(beam.DoFn):
    def __init__(self, config: PipelineConfig, classes: bool, keys: bool):
        self._config, self._classes, self._keys = config, classes, keys

    def process(self, element, plan: Plan):
        if plan.error:
            return
        source, row, batch = element
        rows, _ = prepare(batch, _at(source, row), plan, self._config)
        if rows is None:
            return  # the write branch reports it
        if self._classes:
            yield beam.pvalue.TaggedOutput(_CLASSES, train_classes(rows, self._config))
        if self._keys:
            for keyed in keyed_rows(rows.row_keys, rows.positions):
                yield beam.pvalue.TaggedOutput(_KEYS, keyed)


class _ToExamples(beam.DoFn):
    def __init__(self, config: PipelineConfig, keys: bool):
        self._config, self._keys = config, keys

    def process(self, element, plan: Plan, classes: list[str], dropped, layout: shards.Layout):
        if plan.error:
            return
        source, row, batch = element
        at = _at(source, row)
        rows, problems = prepare(batch, at, plan, self._config)
        if rows is None:
            yield beam.pvalue.TaggedOutput(_STATS, Stats(problem=min(problems)))
            return
        if self._keys:
            for keyed in keyed_rows(rows.row_keys, rows.positions):
                yield beam.pvalue.TaggedOutput(_KEYS, keyed)
        examples, stats = to_examples(rows, at, plan, self._config, classes, dropped)
        yield beam.pvalue.TaggedOutput(_STATS, stats)
        for index, (kept, records) in examples.items():
            places = layout.places(source.part, source.index, row + kept)
            for shard, start, end in shards.runs(layout.shard_of(places)):
                piece = shards.gzip_member(tfrecords(records.slice(start, end - start)))
                yield beam.pvalue.TaggedOutput(_EXAMPLES, ((index, shard), (int(places[start]), piece)))


def _sorted_classes(found: set[str], plan: Plan, config: PipelineConfig) -> list[str]:
    # Numbers in numeric order (class 10 after class 9), text alphabetically.
    numeric = all(types.get(config.label.name) in (INT, FLOAT) for types in plan.types)
    return sorted(found, key=float) if numeric else sorted(found)


def _copies(grouped) -> np.ndarray:
    return later_copies(np.concatenate(list(grouped[1])))


def _all_copies(arrays) -> np.ndarray:
    return np.sort(np.concatenate([np.zeros(0, np.int64), *arrays]))


def _spreads(options) -> bool:
    """Whether to redistribute the batches after reading: on any runner with more than one
    worker; not on the one in-memory DirectRunner worker, where it only holds every batch."""
    runner = (options.view_as(StandardOptions).runner or "DirectRunner").split(".")[-1]
    return runner not in ("DirectRunner", "direct", "BundleBasedDirectRunner", "FnApiRunner") or (
        options.view_as(DirectOptions).direct_num_workers != 1
    )


def _write_json(results: dict, path: str) -> None:
    with FileSystems.create(path) as f:
        f.write(json.dumps(results).encode())


def run_pipeline(
    config: PipelineConfig, parts: list[Part], examples: str, results_path: str, beam_args: list[str]
) -> Outcome:
    rows_per_shard = shards.ROWS_PER_SHARD  # read here: every worker gets this value
    pipeline = common_beam.pipeline(beam_args)
    spread = _spreads(pipeline.options)
    missing = config.data.missing_values
    first_files = [p.files[0] for p in parts]
    parquet = {i: parquet_observed(i, p.files) for i, p in enumerate(parts) if p.fmt == "parquet"}
    spec = config.label
    need_classes = spec.task == "multiclass" and not spec.classes
    drop = config.data.drop_duplicates

    def read(label: str, sources: list[Source], spread: bool):
        out = (
            pipeline
            | f"{label}Files" >> beam.Create(sources)
            | f"{label}Read" >> beam.ParDo(_Read(missing)).with_outputs(_PROBLEMS, main="batches")
        )
        batches = out.batches | f"{label}Spread" >> beam.Reshuffle() if spread else out.batches
        return batches, out[_PROBLEMS]

    # Typing a batch costs little next to reading it: only the files are spread over workers.
    csv_sources = [s for i, p in enumerate(parts) if p.fmt != "parquet" for s in p.sources(i)]
    batches, problems = read("Types", csv_sources, spread=False)
    kinds = batches | "Kinds" >> beam.Map(lambda e: (e[0], list(e[2].schema.names), csv_kinds(e[2])))
    observed = (kinds, problems) | "TypesAll" >> beam.Flatten() | "Observe" >> beam.CombineGlobally(_Observe())
    results = [("observed", observed)]

    def to_plan(found: dict) -> Plan:
        seen = {int(k): observed_from_json(v) for k, v in found.items()} | parquet
        return plan_or_error(config, [seen.get(i, Observed()) for i in range(len(parts))], first_files)

    plan = beam.pvalue.AsSingleton(observed | "Plan" >> beam.Map(to_plan))
    all_sources = [s for i, p in enumerate(parts) for s in p.sources(i)]
    # Rows per file (CSV: counted in the type pass; Parquet: its metadata) -> the shards.
    parquet_rows = {(i, f): n for i, o in parquet.items() for f, n in o.rows.items()}
    files = [(s.part, s.index) for s in all_sources]
    layout_pc = (
        batches
        | "FileRows" >> beam.Map(lambda e: ((e[0].part, e[0].index), e[2].num_rows))
        | "SumFileRows" >> beam.CombinePerKey(sum)
        | "AllFileRows" >> beam.combiners.ToDict()
        | "Layout" >> beam.Map(lambda rows: shards.layout(rows | parquet_rows, files, rows_per_shard))
    )
    layout = beam.pvalue.AsSingleton(layout_pc)

    classes, dropped = list(spec.classes), None  # or side inputs, computed from the data
    copies = None
    if need_classes or drop:
        batches, _ = read("Prepass", all_sources, spread)
        pre = batches | "Prepass" >> beam.ParDo(_Prepass(config, need_classes, drop), plan=plan).with_outputs(
            _CLASSES, _KEYS
        )
        if need_classes:
            found = (
                pre[_CLASSES]
                | "TrainClasses" >> beam.CombineGlobally(lambda sets: set().union(*sets))
                | "SortClasses" >> beam.Map(lambda s, p: _sorted_classes(s, p, config), p=plan)
            )
            results.append(("classes", found))
            classes = beam.pvalue.AsSingleton(found)
        if drop:
            copies = pre[_KEYS] | "GroupKeys" >> beam.GroupByKey() | "Copies" >> beam.Map(_copies)
            dropped = beam.pvalue.AsSingleton(copies | "AllCopies" >> beam.CombineGlobally(_all_copies))

    batches, problems = read("Write", all_sources, spread)
    out = batches | "ToExamples" >> beam.ParDo(
        _ToExamples(config, keys=not drop), plan=plan, classes=classes, dropped=dropped, layout=layout
    ).with_outputs(_STATS, _KEYS, _EXAMPLES)
    split_dirs = [split_dir(examples, name) for name in config.split.names]
    every = layout_pc | "EveryShard" >> beam.FlatMap(shards.every_shard(len(split_dirs)), plan=plan)
    _ = (
        (out[_EXAMPLES], every)
        | "AllPieces" >> beam.Flatten()
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(shards.WriteShard([os.path.join(d, shards.PREFIX) for d in split_dirs]), layout)
    )
    stats = (
        (out[_STATS], problems | "ProblemStats" >> beam.Map(lambda p: Stats(problem=p)))
        | "AllStats" >> beam.Flatten()
        | "Merge" >> beam.CombineGlobally(_Merge())
    )
    results.append(("stats", stats))
    if copies is None:
        copies = out[_KEYS] | "GroupAllKeys" >> beam.GroupByKey() | "CountCopies" >> beam.Map(_copies)
    count = copies | "CopyCount" >> beam.Map(len) | "Duplicates" >> beam.CombineGlobally(sum)
    results.append(("duplicates", count))
    _ = (
        [pcoll | f"Name{name}" >> beam.Map(lambda v, name=name: (name, v)) for name, pcoll in results]
        | "Results" >> beam.Flatten()
        | "ResultsDict" >> beam.combiners.ToDict()
        | "SaveResults" >> beam.Map(_write_json, results_path)
    )
    shards.clear(split_dirs)
    pipeline.run().wait_until_finish()
    return _outcome(results_path, parts, parquet, spec.classes)


def _outcome(path: str, parts: list[Part], parquet: dict[int, Observed], configured: list[str]) -> Outcome:
    with FileSystems.open(path) as f:
        results = json.loads(f.read())
    seen = {int(k): observed_from_json(v) for k, v in results["observed"].items()} | parquet
    classes = results.get("classes")
    return Outcome(
        observed=[seen.get(i, Observed()) for i in range(len(parts))],
        classes=list(configured) if classes is None else classes,
        stats=stats_from_json(results["stats"]),
        duplicate_rows=int(results["duplicates"]),
    )
