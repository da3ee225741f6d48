"""Evaluator: TFMA on the eval split, overall and per configured slice (single-feature and
cross slices), with the task's metrics (contracts/metrics.py) and, for classification,
Fairness Indicators rates at the configured decision thresholds.

The blessing needs every check to pass:
- value thresholds on the candidate's overall metrics;
- change thresholds against the baseline, the latest blessed model in the registry. TFMA
  evaluates candidate and baseline together (two ModelSpecs, the baseline with
  is_baseline=True). A first run, or a baseline trained for another task or other classes,
  is judged without them, and blessing.json says so;
- the fairness gate: the gap (largest minus smallest) of one metric over the groups of one
  slice feature that have enough examples; a gate with fewer than two groups to compare
  withholds the blessing unless configured otherwise;
- TFMA's own validation result, which must agree with the threshold checks above.

Outputs keep TFX's layouts: a TFMA output directory (tfma.load_eval_result reads it; with a
baseline, pass model_name="candidate" or "baseline") and a blessing directory holding an
empty BLESSED or NOT_BLESSED file, plus blessing.json with every check and the numbers
behind it. The report (HTML) and its Markdown summary are written from blessing.json.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from components.common import without

# TFMA imports every metric it has. ROUGE's nltk then imports scikit-learn (~1 CPU-s) for its
# sklearn classifier wrappers, and BLEU's sacrebleu imports redis for portalocker's RedisLock:
# both optional there (nltk and portalocker catch the ImportError), neither used here.
with without("sklearn", "redis"):
    import tensorflow_model_analysis as tfma

import tensorflow as tf

from components.common.beam import pipeline_options
from components.common.counts import check_counts, expected_counts
from components.common.io import log, read_json, step, write_json, write_text
from components.common.readers import load_schema
from components.evaluator import report
from components.evaluator.checks import (
    ChangeCheck,
    Check,
    FairnessCheck,
    fairness_reason,
    judge,
    judge_changes,
    judge_fairness,
)
from components.evaluator.tfma_config import (
    BASELINE,
    CANDIDATE,
    load_metrics,
    make_eval_config,
    multiclass_matrix,
    tfma_validation_ok,
)
from contracts.artifacts import (
    BLESSED,
    BLESSING_JSON,
    EXAMPLE_GEN_SUMMARY,
    NOT_BLESSED,
    examples_pattern,
    serving_model_dir,
)
from contracts.config import PipelineConfig, Threshold
from contracts.executor import ExecutorResult
from contracts.registry import RegistryVersion, latest_version


@dataclass(frozen=True)
class Inputs:
    examples: str
    schema: str
    model: str  # the Model artifact (Format-Serving inside)
    statistics: str = ""  # for the report's data section
    anomalies: str = ""
    value_thresholds: dict[str, Threshold] | None = None  # overrides the config's (a pipeline parameter)
    model_registry: str = ""  # where the baseline is looked up (default: push.registry)
    beam_args: tuple[str, ...] = ()  # Beam pipeline options (components/common/beam.py); empty: its default


@dataclass(frozen=True)
class Outputs:
    evaluation: str
    blessing: str
    report: str = ""  # HTML
    summary: str = ""  # Markdown


@dataclass
class Blessing(ExecutorResult):
    blessed: bool
    task: str
    label: dict  # ExampleGen's description of the label: name, classes, counts
    checks: list[Check]
    overall_metrics: dict[str, float]
    slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    # The baseline the candidate was judged against: {"version", "path"}; None without one.
    baseline: dict | None = None
    baseline_metrics: dict[str, float] = field(default_factory=dict)
    baseline_slice_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    change_checks: list[ChangeCheck] = field(default_factory=list)
    fairness_check: FairnessCheck | None = None
    # Slices left without metrics because they have fewer than min_slice_size examples.
    suppressed_slices: list[str] = field(default_factory=list)
    # Confidence intervals per slice and metric, when evaluation.confidence_intervals is on.
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # Multiclass: the overall confusion matrix, rows actual, columns predicted (label.classes order).
    confusion_matrix: list[list[int]] = field(default_factory=list)
    # What the run read (ExampleGen's record): source, files, rows, warnings.
    data: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED


def _comparable(baseline: RegistryVersion, config: PipelineConfig, label: dict) -> str | None:
    """Why a baseline cannot be compared with this candidate, or None."""
    spec = baseline.metadata.get("label_spec")
    if spec and spec != config.label.model_dump(mode="json", exclude={"unit", "missing"}):
        return f"its label was defined otherwise ({spec})"
    theirs = baseline.metadata.get("label") or {}
    if theirs.get("task", label["task"]) != label["task"]:
        return f"it is a {theirs['task']} model"
    if label["task"] == "multiclass" and theirs.get("classes", label["classes"]) != label["classes"]:
        return f"its classes {theirs['classes']} differ from this run's {label['classes']}"
    return None


def resolve_baseline(config: PipelineConfig, registry: str, label: dict, notes: list[str]) -> RegistryVersion | None:
    """The latest blessed model in the registry (TFX's LatestBlessedModelStrategy), if it can be compared."""
    found = latest_version(registry, config.model_name)
    if found is None:
        notes.append(
            f"first run: no blessed {config.model_name} in the registry ({registry}); change thresholds not applied"
        )
        return None
    if not tf.io.gfile.exists(os.path.join(found.path, "saved_model.pb")):
        raise FileNotFoundError(f"registry version {found.path} has model_metadata.json but no saved_model.pb")
    why = _comparable(found, config, label)
    if why:
        notes.append(f"baseline version {found.version} not compared: {why}; change thresholds not applied")
        return None
    notes.append(f"judged against the baseline: version {found.version} in the registry ({found.path})")
    return found


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Blessing:
    evaluation, task = config.evaluation, config.label.task
    thresholds = config.value_thresholds if inputs.value_thresholds is None else inputs.value_thresholds
    registry = inputs.model_registry or config.push.registry
    data = read_json(os.path.join(inputs.examples, EXAMPLE_GEN_SUMMARY))
    label = data["label"]
    classes = label.get("classes", []) if task == "multiclass" else []
    notes: list[str] = []
    baseline = resolve_baseline(config, registry, label, notes)
    eval_config = make_eval_config(config, thresholds, classes, with_baseline=baseline is not None)
    model_dir = serving_model_dir(inputs.model)
    models = [
        tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=eval_config, model_name=CANDIDATE)
    ]
    if baseline:
        models.append(
            tfma.default_eval_shared_model(
                eval_saved_model_path=baseline.path, eval_config=eval_config, model_name=BASELINE
            )
        )
    with step(f"Evaluator: TFMA on the eval split ({'candidate and baseline' if baseline else 'candidate'})"):
        tfma.run_model_analysis(
            eval_shared_model=models if baseline else models[0],
            eval_config=eval_config,
            data_location=examples_pattern(inputs.examples, "eval"),
            file_format="tfrecords",
            output_path=outputs.evaluation,
            schema=load_schema(inputs.schema),
            pipeline_options=pipeline_options(list(inputs.beam_args)),
        )
    candidate = load_metrics(outputs.evaluation, classes, CANDIDATE)
    by_slice = dict(candidate.by_slice)
    overall = by_slice.pop("Overall")
    if overall.get("example_count") is not None:  # every eval example weighed (counts.py says why)
        seen = {"eval": int(overall["example_count"])}
        check_counts("Evaluator", "the evaluation", seen, expected_counts(inputs.examples), inputs.beam_args)
    checks = judge(config, overall, thresholds)
    reasons = [
        f"{c.metric} = {c.value if c.value is None else round(c.value, 4)} is outside "
        f"[{c.lower_bound}, {c.upper_bound}]"
        for c in checks
        if not c.passed
    ]
    change_checks, baseline_metrics, baseline_slices = [], {}, {}
    if baseline:
        baseline_slices = dict(load_metrics(outputs.evaluation, classes, BASELINE).by_slice)
        baseline_metrics = baseline_slices.pop("Overall")
        change_checks = judge_changes(config, overall, baseline_metrics, evaluation.change_thresholds)
        reasons += [
            f"{c.metric} changed by {c.change if c.change is None else round(c.change, 4)} against "
            f"baseline version {baseline.version} ({c.direction}, limit {c.absolute})"
            for c in change_checks
            if not c.passed
        ]
    fairness = judge_fairness(config, candidate) if evaluation.fairness_gate else None
    if fairness:
        reason = fairness_reason(fairness)
        if reason:
            reasons.append(reason)
        elif not fairness.measured:
            notes.append(
                "fairness gate: nothing to measure (fewer than two groups); passed by "
                "fairness_gate.when_unmeasurable: pass"
            )
    # TFMA's own validation (value and change thresholds) must agree with our reading.
    tfma_ok = tfma_validation_ok(outputs.evaluation)
    if not tfma_ok and all(c.passed for c in checks + change_checks):
        reasons.append("TFMA's validation result is not OK (see validations in the evaluation output)")
    blessing = Blessing(
        blessed=tfma_ok and not reasons,
        task=task,
        label=label,
        checks=checks,
        overall_metrics=overall,
        slice_metrics=by_slice,
        reasons=reasons,
        baseline={"version": baseline.version, "path": baseline.path} if baseline else None,
        baseline_metrics=baseline_metrics,
        baseline_slice_metrics=baseline_slices,
        change_checks=change_checks,
        fairness_check=fairness,
        suppressed_slices=candidate.suppressed,
        intervals=candidate.intervals,
        confusion_matrix=multiclass_matrix(outputs.evaluation, len(classes), baseline is not None) if classes else [],
        data={
            k: data.get(k)
            for k in (
                "source",
                "files",
                "rows_read",
                "split_counts",
                "rows_without_label",
                "undefined_ratio_rows",
                "unseen_class_rows",
                "duplicate_rows",
                "duplicates_dropped",
                "warnings",
            )
        },
        notes=notes,
    )
    write_blessing(outputs.blessing, blessing)
    if outputs.report or outputs.summary:
        write_reports(blessing, config, inputs, outputs)
    headline = {c.metric: c.value if c.value is None else round(c.value, 4) for c in checks}
    log.info(
        "Evaluator: %s on %d examples; %s%s",
        blessing.decision,
        int(overall.get("example_count", 0)),
        headline,
        "" if blessing.blessed else "; " + "; ".join(reasons),
    )
    return blessing


def write_blessing(blessing_dir: str, blessing: Blessing) -> None:
    tf.io.gfile.makedirs(blessing_dir)
    for marker in (BLESSED, NOT_BLESSED):  # a retried step may find an earlier attempt's decision
        if tf.io.gfile.exists(os.path.join(blessing_dir, marker)):
            tf.io.gfile.remove(os.path.join(blessing_dir, marker))
    with tf.io.gfile.GFile(os.path.join(blessing_dir, blessing.decision), "w") as f:
        f.write("")  # GFile creates nothing until written to
    write_json(os.path.join(blessing_dir, BLESSING_JSON), asdict(blessing) | {"decision": blessing.decision})


def write_reports(blessing: Blessing, config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> None:
    """The stakeholders' report (self-contained HTML) and a Markdown summary, from blessing.json
    and the run's TFDV statistics and anomalies."""
    as_json = read_json(os.path.join(outputs.blessing, BLESSING_JSON))
    run = {"model": config.model_name, "pipeline": config.pipeline_name, "data": blessing.data.get("source")}
    summary = report.data_summary(inputs.statistics or None, inputs.anomalies or None, config.split.names)
    if outputs.report:
        write_text(outputs.report, report.render_html(as_json, run, summary))
    if outputs.summary:
        write_text(outputs.summary, report.render_markdown(as_json, run))
