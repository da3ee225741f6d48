"""The one typed config of a pipeline instance (examples/<name>/config.yaml is one).

It is validated before anything runs (validate-config, compile, run-local) and again inside
every component, so a bad value is reported with the name of the field that holds it.
Everything that can be checked without the data is checked here; what needs the data (a
label column that is not in the file, one class only) is checked by ExampleGen.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.beam import BeamConfig
from contracts.machines import DEFAULT_GPU_MACHINE, misfit
from contracts.metrics import FAIRNESS_RATES, GAP_METRICS, TASKS, Task, known_metrics


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSource(_Strict):
    # A file, a glob, or a directory of files; local path or gs://. Relative local paths
    # are resolved against the working directory (the repo root, or the image WORKDIR).
    source: str = Field(min_length=1)
    format: Literal["csv", "parquet", "auto"] = "auto"
    # CSV cells that mean "missing" besides the empty cell (R writes NA, some tools NULL).
    missing_values: list[str] = []
    # Exact duplicate rows are always counted and reported; true leaves all but the first out.
    drop_duplicates: bool = False

    def resolved_format(self, path: str) -> str:
        # A file's own extension wins (a --data-source override may change the format).
        if path.endswith((".parquet", ".pq")):
            return "parquet"
        if path.endswith((".csv", ".csv.gz")):
            return "csv"
        return "csv" if self.format == "auto" else self.format


class RatioLabel(_Strict):
    """A derived binary label: numerator > min_ratio * denominator (e.g. tip > 20% of fare)."""

    numerator: str = Field(min_length=1)
    denominator: str = Field(min_length=1)
    min_ratio: float = Field(gt=0)
    # A zero, negative or missing denominator, or a missing numerator, leaves the ratio
    # undefined: label such rows 0 ("negative") or leave them out of the data ("drop").
    undefined: Literal["negative", "drop"] = "negative"


Scalar = Union[bool, int, float, str]


class LabelSpec(_Strict):
    """What the model predicts. `name` is a column of the data, except for a derived label
    (`ratio`), which ExampleGen adds under that name. ExampleGen writes the label as the model
    and TFMA see it: binary 0/1, multiclass the class index, regression the number."""

    name: str = Field(min_length=1)
    task: Task = "binary"
    # binary: the column's values that mean positive (e.g. ["Yes"], [1]) ...
    positive: list[Scalar] | None = None
    # ... or a number above which a numeric column is positive.
    positive_above: float | None = None
    # multiclass: the classes in a fixed order; default: the train split's values, sorted.
    classes: list[str] = []

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value):
        # Integer classes ([0, 1, 2]) are compared as the column's text.
        return [str(v) for v in value] if isinstance(value, list) else value

    # binary: derived from two numeric columns instead of read from one.
    ratio: RatioLabel | None = None
    # Rows without a label value: left out, counted and reported ("drop"), or an error.
    missing: Literal["drop", "error"] = "drop"
    # regression: the label's unit, for the report ("mpg", "USD").
    unit: str = ""

    @model_validator(mode="after")
    def _check(self) -> LabelSpec:
        given = [f for f in ("positive", "positive_above", "ratio") if getattr(self, f) is not None]
        if self.task == "binary":
            if len(given) != 1:
                raise ValueError(
                    "a binary label needs exactly one of positive (the values that mean positive, e.g. "
                    "positive: ['Yes']), positive_above (a number) or ratio (a derived label); "
                    f"got {given or 'none'}"
                )
            if self.positive is not None and not self.positive:
                raise ValueError("positive: name at least one value")
        elif given:
            raise ValueError(f"{given} only apply to task: binary (task is {self.task})")
        if self.unit and self.task != "regression":
            raise ValueError(f"unit only applies to task: regression (task is {self.task})")
        if self.classes and self.task != "multiclass":
            raise ValueError(f"classes only apply to task: multiclass (task is {self.task})")
        if self.classes and (len(set(self.classes)) != len(self.classes) or len(self.classes) < 2):
            raise ValueError(f"classes must be two or more distinct values, got {self.classes}")
        return self

    @property
    def source_columns(self) -> list[str]:
        """The data columns the label is read from."""
        return [self.ratio.numerator, self.ratio.denominator] if self.ratio else [self.name]


class ZScore(_Strict):
    name: str
    transform: Literal["zscore"]


class Bucketize(_Strict):
    name: str
    transform: Literal["bucketize"]
    buckets: int = Field(ge=2, le=1000)


class Vocabulary(_Strict):
    name: str
    transform: Literal["vocabulary"]
    top_k: int = Field(default=1000, ge=1)
    oov_buckets: int = Field(default=1, ge=1)


class Hashing(_Strict):
    name: str
    transform: Literal["hash"]
    hash_buckets: int = Field(ge=2)


class RawFeature(_Strict):
    """A model input whose preprocessing is the user's preprocessing_fn (user_code)."""

    name: str
    transform: Literal["none"] = "none"


FeatureSpec = Annotated[Union[ZScore, Bucketize, Vocabulary, Hashing, RawFeature], Field(discriminator="transform")]


class SplitSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    ratio: float = Field(gt=0, lt=1)


class Split(_Strict):
    # Columns whose values decide a row's split; empty means the whole row.
    hash_key: list[str] = []
    splits: list[SplitSpec] = [SplitSpec(name="train", ratio=0.8), SplitSpec(name="eval", ratio=0.2)]

    @model_validator(mode="after")
    def _check(self) -> Split:
        names = [s.name for s in self.splits]
        if sorted(set(names)) != sorted(names):
            raise ValueError(f"split names must be unique, got {names}")
        if not {"train", "eval"} <= set(names):
            raise ValueError(f"splits must include 'train' and 'eval', got {names}")
        total = sum(s.ratio for s in self.splits)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1, got {total:g}")
        return self

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.splits]


class ModelSpec(_Strict):
    """The generated model (used unless user_code.run_fn is set): an embedding per
    categorical input, the numeric inputs as they are, then dense layers and the task's head."""

    hidden_units: list[Annotated[int, Field(ge=1)]] = [64, 32]
    embedding_dim: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    batch_size: int = Field(default=256, ge=1)
    epochs: int = Field(default=5, ge=1)
    # 0 = one pass over the training split per epoch.
    steps_per_epoch: int = Field(default=0, ge=0)
    seed: int = 42


_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


class UserCode(_Strict):
    """The user's own preprocessing and model code, TFX module-file style. With module_file
    (a .py file, local or gs://, copied into the run) the functions are names in it; without
    it they are import paths ("my_package.my_module.preprocessing_fn") in the image."""

    module_file: str = ""
    # preprocessing_fn(inputs) or preprocessing_fn(inputs, custom_config) -> outputs (tf.Transform)
    preprocessing_fn: str = ""
    # run_fn(fn_args): trains and saves a SavedModel to fn_args.serving_model_dir (TFX Trainer)
    run_fn: str = ""

    @model_validator(mode="after")
    def _check(self) -> UserCode:
        for field in ("preprocessing_fn", "run_fn"):
            value = getattr(self, field)
            if not value:
                continue
            if self.module_file and not _IDENTIFIER.match(value):
                raise ValueError(f"{field}: with module_file, name a function in it (e.g. {field}), got {value!r}")
            if not self.module_file and not _IMPORT_PATH.match(value):
                raise ValueError(
                    f"{field}: without module_file, give an import path such as "
                    f"'my_package.module.{field}', got {value!r}"
                )
        if self.module_file and not (self.preprocessing_fn or self.run_fn):
            raise ValueError("module_file is set but names neither preprocessing_fn nor run_fn")
        if self.module_file and not self.module_file.endswith(".py"):
            raise ValueError(f"module_file must be a .py file, got {self.module_file!r}")
        return self


class Threshold(_Strict):
    lower_bound: float | None = None
    upper_bound: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Threshold:
        if self.lower_bound is None and self.upper_bound is None:
            raise ValueError("a threshold needs lower_bound, upper_bound or both")
        return self


class ChangeThreshold(_Strict):
    """A bound on candidate minus baseline (TFMA's GenericChangeThreshold, absolute): with
    higher_is_better the change must be >= absolute (AUC may drop by 0.01 at most: -0.01);
    with lower_is_better it must be <= absolute. Applies only when the registry holds a
    blessed baseline."""

    # In a PipelineConfig the default is the metric's own direction (AUC higher, MeanAbsoluteError lower).
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    absolute: float


class FairnessGate(_Strict):
    """Withholds the blessing when a metric differs too much between groups: the gap (largest
    minus smallest value) of `metric` over the groups of `feature` that have at least
    `min_examples` eval examples must be <= max_gap.

    Classification: `metric` is a Fairness Indicators rate at decision threshold `threshold`
    (multiclass: one-vs-rest for `class_name`). Regression: an error metric per group."""

    feature: str = Field(min_length=1)
    metric: str = "false_negative_rate"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    class_name: str = ""
    max_gap: float = Field(ge=0)
    min_examples: int = Field(default=30, ge=1)
    # Fewer than two groups to compare (e.g. one group has all the examples): "fail" withholds
    # the blessing (nothing was measured), "pass" blesses on the other checks.
    when_unmeasurable: Literal["fail", "pass"] = "fail"


class Evaluation(_Strict):
    # Each entry is one slice: a list of feature names (one = single-feature slice, two or
    # more = a cross slice). The overall slice is always computed.
    slices: list[list[str]] = []
    # Slices with fewer eval examples than this are reported without metrics (TFMA's
    # Options.min_slice_size); the overall slice is always kept.
    min_slice_size: int = Field(default=1, ge=1)
    # Bootstrap confidence intervals on every metric (Poisson bootstrap): several times slower.
    confidence_intervals: bool = False
    # Classification: decision thresholds at which Fairness Indicators reports its rates.
    fairness_thresholds: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default=[0.5], min_length=1)
    # Metric -> bounds on its overall value; all must hold to bless. Default: the task's
    # (binary AUC >= 0.7, multiclass Accuracy >= 0.5); regression must name its own, as an
    # error's scale is the label's.
    value_thresholds: dict[str, Threshold] = {}
    # Metric -> bound on its overall change against the latest blessed model in the registry
    # (the baseline). A first run (empty registry) skips them.
    change_thresholds: dict[str, ChangeThreshold] = {}
    fairness_gate: FairnessGate | None = None

    @model_validator(mode="after")
    def _slices(self) -> Evaluation:
        for i, slice_features in enumerate(self.slices):
            if not slice_features:
                raise ValueError(f"slices[{i}]: empty (the overall slice is always computed)")
            if len(set(slice_features)) != len(slice_features):
                raise ValueError(f"slices[{i}]: a feature appears twice in {slice_features}")
        return self


DEFAULT_VALUE_THRESHOLDS: dict[str, dict[str, Threshold]] = {
    "binary": {"AUC": Threshold(lower_bound=0.7)},
    "multiclass": {"Accuracy": Threshold(lower_bound=0.5)},
    "regression": {},
}


class Validation(_Strict):
    # A curated schema (schema.pbtxt); when empty, SchemaGen infers one from the train split.
    schema_path: str = ""
    # TFDV anomaly types (e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES) reported but not failing.
    warn_only: list[str] = []
    # A data column the schema does not know is a warning (listed in the report) unless this
    # is true; then it blocks the run.
    strict_columns: bool = False
    # A categorical feature whose number of distinct values grows by more than this factor
    # against the baseline model's training data is reported (a warning).
    max_distinct_growth: float = Field(default=3.0, gt=1)


class CanaryAnalysis(_Strict):
    """Canary vs stable over a request window (components/canary_analysis): promote, roll back,
    or inconclusive when either side served too few requests to judge."""

    # Served requests each side needs before anything is judged.
    min_requests: int = Field(default=100, ge=1)
    # Rejected-request rate the canary may add to the stable's (0.01: one point), when the rise
    # is also significant (one-sided two-proportion z-test, p < 0.01).
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    # Prediction distribution: JSD over the stable's quantile bins (binary probability,
    # regression value) and L-infinity of the predicted classes' shares (multiclass); each is
    # raised to drift's noise floor at the two sides' sizes.
    max_prediction_jsd: float = Field(default=0.02, gt=0, le=1)
    max_prediction_linf: float = Field(default=0.1, gt=0, le=1)
    # Live quality (the task's main metric on labelled rows: AUC, accuracy, MAE): the canary
    # may be this much worse, relative to the stable's value (0.05: 5%), when also significantly
    # worse (z over the two sides' standard errors, p < 0.01) ...
    max_quality_drop: float = Field(default=0.05, ge=0, le=1)
    # ... judged only with at least this many labelled rows each side.
    min_labelled_rows: int = Field(default=100, ge=1)
    # Server-side latency per request (the request log's latency_ms): the canary's p95 may exceed
    # the stable's by this much, relative (0.2: 20%); more rolls back when its latencies are also
    # significantly higher (one-sided Mann-Whitney U, p < 0.01). Not judged for logs without them.
    max_latency_increase: float = Field(default=0.2, ge=0)
    # ... and by at least this many milliseconds at p95. A process that gets a small share of the
    # traffic answers slower than a busy one (colder caches; measured here: the same model at 20%
    # of the requests, p50 +15%, p95 +37%, about 2 ms), so a canary compared with the stable
    # rolls back only for a rise that matters to callers.
    min_latency_increase_ms: float = Field(default=5.0, ge=0)


class Monitoring(_Strict):
    """Drift and skew thresholds, shared by ExampleValidator (new training data against the
    champion's) and the monitor (live windows against training data and the last window).

    A feature drifts when its distance exceeds max(threshold, the noise floor at its number of
    rows): numeric features by Jensen-Shannon divergence over the reference's quantile bins,
    categorical ones by L-infinity distance (the largest change of one value's share)."""

    # JSD 0.02: a 0.5-sd mean shift gives 0.042, a 0.25-sd one 0.011.
    numeric_threshold: float = Field(default=0.02, gt=0, le=1)
    # L-infinity 0.1: a value's share moving by 10 points.
    categorical_threshold: float = Field(default=0.1, gt=0, le=1)
    # Feature name -> its own threshold (in its kind's measure).
    thresholds: dict[str, Annotated[float, Field(gt=0, le=1)]] = {}
    # A feature with fewer rows than this (either side) is reported as too small to judge.
    min_rows: int = Field(default=100, ge=1)
    # New training data that drifted from the current champion's training data: logged and
    # recorded ("warn"), fails ExampleValidator ("block"), or not compared ("off").
    training_drift: Literal["warn", "block", "off"] = "warn"
    # The monitor: live quality (the task's main metric on the window's labelled rows) worse
    # than the served version's evaluation by more than this share of it (0.1: AUC 0.90 ->
    # under 0.81, MAE 2.0 -> over 2.2) asks for a retrain; judged from min_rows labelled rows.
    quality_drop: float = Field(default=0.1, gt=0, lt=1)
    canary_analysis: CanaryAnalysis = CanaryAnalysis()


class KServeDeploy(_Strict):
    """After a push, serve the new version from a KServe InferenceService as a canary."""

    namespace: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    # Share of traffic the new version gets; `promote` takes it to 100.
    canary_percent: int = Field(default=10, ge=0, le=100)
    # A rendered InferenceService (kubectl kustomize serving/manifests/overlays/...), used to
    # create it when it does not exist yet.
    template: str = ""
    # How long the Pusher waits for the new model to serve (Serverless: the new revision
    # ready; RawDeployment: the Deployment rolled over); on timeout or a failed condition it
    # reverts its change and fails the step.
    ready_timeout_s: int = Field(default=600, ge=1)


class VertexEndpointDeploy(_Strict):
    """After a push, upload the version to the Vertex AI Model Registry (as a new version of
    parent_model) and deploy it to an Endpoint with a share of the traffic."""

    project: str = Field(min_length=1)
    region: str = "us-central1"
    endpoint: str = Field(min_length=1)  # endpoint ID or projects/.../endpoints/ID
    parent_model: str = ""  # model ID or resource name; empty: the first upload creates the model
    serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest"
    machine_type: str = "n1-standard-4"
    traffic_percent: int = Field(default=10, ge=1, le=100)
    # A private (PSC) or regional API endpoint, when not the default one.
    api_endpoint: str = ""
    # Deployed models kept on the endpoint after a push (the new one and the one serving
    # before it, by default); older ones without traffic are undeployed (each holds nodes).
    keep_versions: int = Field(default=2, ge=1)


class Push(_Strict):
    # Versioned model registry: local directory or gs://bucket/prefix.
    registry: str = Field(min_length=1)
    kserve: KServeDeploy | None = None
    vertex_endpoint: VertexEndpointDeploy | None = None

    @model_validator(mode="after")
    def _vertex_needs_gcs(self) -> Push:
        if self.vertex_endpoint and not self.registry.startswith("gs://"):
            raise ValueError(
                f"vertex_endpoint needs a gs:// registry (Vertex reads the model from GCS), got {self.registry!r}"
            )
        return self


class TaskResources(_Strict):
    # Kubernetes quantities; Vertex picks the machine type from the limits.
    cpu: str = Field(default="1", pattern=r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
    memory: str = Field(default="4G", pattern=r"^[0-9]+(\.[0-9]+)?(K|M|G|T|Ki|Mi|Gi|Ti)$")
    gpu_count: int = Field(default=0, ge=0, le=16)
    # Vertex accelerator name (NVIDIA_L4, NVIDIA_TESLA_T4, ...); the GKE node label is
    # derived from it (nvidia-l4, nvidia-tesla-t4, ...).
    gpu_type: str = Field(default="", pattern=r"^(NVIDIA_[A-Z0-9_]+)?$")
    # The GKE node's machine type: the requests must fit what a pod can get on it
    # (contracts/machines.py). Empty: g2-standard-4 for an NVIDIA_L4 task, else unchecked, as
    # is a machine type that is not in that table. Vertex picks its own machine (see above).
    machine_type: str = Field(default="", pattern=r"^([a-z][a-z0-9]*-[a-z0-9-]+)?$")
    # Train on CPU, with a warning, when TensorFlow sees fewer GPUs than gpu_count on a cluster;
    # otherwise the Trainer fails there (a GPU pod that trains on CPU is a broken image or node).
    allow_cpu_fallback: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_machine(cls, data):
        if isinstance(data, dict) and data.get("gpu_count") and not data.get("machine_type"):
            machine = DEFAULT_GPU_MACHINE.get(data.get("gpu_type", ""))
            return data | {"machine_type": machine} if machine else data
        return data

    @model_validator(mode="after")
    def _gpu(self) -> TaskResources:
        if self.gpu_count and not self.gpu_type:
            raise ValueError("gpu_count > 0 needs a gpu_type such as NVIDIA_L4")
        problem = misfit(self.machine_type, self.cpu, self.memory)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def gke_accelerator(self) -> str:
        return self.gpu_type.lower().replace("_", "-")


class Resources(_Strict):
    default: TaskResources = TaskResources()
    # Fits a g2-standard-4 (one L4): a pod there can request 3.52 CPU / 13.76G (machines.py).
    trainer: TaskResources = TaskResources(
        cpu="3", memory="12G", gpu_count=1, gpu_type="NVIDIA_L4", machine_type="g2-standard-4"
    )
    # Trainer replicas, each with `trainer`'s machine: > 1 trains with MultiWorkerMirroredStrategy
    # (Vertex only: a CustomJob of one chief + N-1 workers, pipelines/training_pipeline.py).
    trainer_workers: int = Field(default=1, ge=1, le=64)
    # Retries for transient failures (pre-empted nodes, storage hiccups). ExampleValidator is
    # never retried: bad data fails the same way every time.
    retries: int = Field(default=2, ge=0, le=10)


class Cloud(_Strict):
    """Where cluster runs keep what must outlive a pod (Terraform creates the buckets):
    model_registry is compiled into the kfp and vertex variants as the default a run started
    from the KFP UI or the Vertex console uses; the rest are Vertex's submit settings."""

    # The cluster variants' model_registry default; empty: the run must pass model_registry.
    model_registry: str = ""
    pipeline_root: str = ""  # Vertex's --pipeline-root
    project: str = ""  # Vertex's --project
    region: str = ""  # Vertex's --region

    @field_validator("model_registry", "pipeline_root")
    @classmethod
    def _remote(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError(
                f"{value!r} is a local path; a cluster pod's disk is gone when the pod ends: use gs://BUCKET/prefix"
            )
        return value


class PipelineConfig(_Strict):
    pipeline_name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    model_name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    data: DataSource
    label: LabelSpec
    # The model's raw inputs. A plain name (no transform) is for a user preprocessing_fn.
    features: list[FeatureSpec] = Field(min_length=1)
    split: Split = Split()
    model: ModelSpec = ModelSpec()
    user_code: UserCode = UserCode()
    evaluation: Evaluation = Evaluation()
    validation: Validation = Validation()
    monitoring: Monitoring = Monitoring()
    push: Push
    resources: Resources = Resources()
    cloud: Cloud = Cloud()
    # Where the Beam steps run (contracts/beam.py): DirectRunner locally, the runner named here on a cluster.
    beam: BeamConfig = BeamConfig()

    @field_validator("features", mode="before")
    @classmethod
    def _plain_names(cls, value):
        # A plain name, or an entry without a transform, is a raw input for the user's preprocessing_fn.
        if isinstance(value, list):
            value = [{"name": v} if isinstance(v, str) else v for v in value]
            return [v | {"transform": "none"} if isinstance(v, dict) and "transform" not in v else v for v in value]
        return value

    @model_validator(mode="before")
    @classmethod
    def _change_directions(cls, data):
        """A change threshold's direction is the metric's; one that contradicts it is an error
        (a model whose error grew would be blessed)."""
        try:
            task = data.get("label", {}).get("task", "binary")
            changes = data.get("evaluation", {}).get("change_thresholds") or {}
            known = known_metrics(task)
        except (AttributeError, KeyError):
            return data  # the field validators will say what is wrong
        filled = {}
        for name, bounds in changes.items():
            if isinstance(bounds, dict) and name in known:
                natural = "higher_is_better" if known[name].higher_is_better else "lower_is_better"
                given = bounds.get("direction", natural)
                if given != natural:
                    raise ValueError(f"evaluation.change_thresholds.{name}.direction: {name} is {natural}, got {given}")
                bounds = bounds | {"direction": natural}
            filled[name] = bounds
        if changes:
            data = data | {"evaluation": data["evaluation"] | {"change_thresholds": filled}}
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        names = self.feature_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate feature(s) {dupes}")
        # The ratio's denominator may be a feature (fare, for a tip share): it is known when predicting.
        label_columns = {self.label.name} | ({self.label.ratio.numerator} if self.label.ratio else set())
        leaks = label_columns & set(names)
        if leaks:
            raise ValueError(f"features: {sorted(leaks)} would leak the label into the model")
        unknown = sorted(set(self.monitoring.thresholds) - set(names))
        if unknown:
            raise ValueError(f"monitoring.thresholds: {unknown} are not in features {names}")
        raw = [f.name for f in self.features if isinstance(f, RawFeature)]
        if raw and not self.user_code.preprocessing_fn:
            raise ValueError(
                f"features: {raw} have no transform; give one (zscore, bucketize, vocabulary, hash) "
                "or set user_code.preprocessing_fn"
            )
        self._check_metrics()
        self._check_gate()
        return self

    def _check_metrics(self) -> None:
        task, known = self.label.task, known_metrics(self.label.task)
        for field, thresholds in (
            ("value_thresholds", self.evaluation.value_thresholds),
            ("change_thresholds", self.evaluation.change_thresholds),
        ):
            unknown = sorted(set(thresholds) - set(known))
            if unknown:
                raise ValueError(f"evaluation.{field}: {unknown} are not {task} metrics; known: {list(known)}")
        if not self.value_thresholds:
            raise ValueError(
                f"evaluation.value_thresholds: a {task} model needs at least one (e.g. "
                f"MeanAbsoluteError: {{upper_bound: ...}}); a blessing that checks nothing blesses every model"
            )

    def _check_gate(self) -> None:
        gate, task = self.evaluation.fairness_gate, self.label.task
        if gate is None:
            return
        where = "evaluation.fairness_gate"
        if task == "regression":
            if gate.metric not in GAP_METRICS:
                raise ValueError(
                    f"{where}.metric: {gate.metric!r} does not apply to regression; use one of "
                    f"{list(GAP_METRICS)} (the gap of an error metric between groups)"
                )
            if gate.class_name:
                raise ValueError(f"{where}.class_name only applies to multiclass")
            return
        if gate.metric not in FAIRNESS_RATES:
            raise ValueError(
                f"{where}.metric: {gate.metric!r} is not a Fairness Indicators rate; use one of {list(FAIRNESS_RATES)}"
            )
        if not any(abs(gate.threshold - t) < 1e-9 for t in self.evaluation.fairness_thresholds):
            raise ValueError(
                f"{where}.threshold {gate.threshold} is not one of evaluation.fairness_thresholds "
                f"{self.evaluation.fairness_thresholds}"
            )
        if task == "multiclass" and not gate.class_name:
            raise ValueError(f"{where}.class_name: name the class whose one-vs-rest {gate.metric} is compared")
        if task == "binary" and gate.class_name:
            raise ValueError(f"{where}.class_name only applies to multiclass")
        if task == "multiclass" and self.label.classes and gate.class_name not in self.label.classes:
            raise ValueError(f"{where}.class_name {gate.class_name!r} is not one of label.classes {self.label.classes}")

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def value_thresholds(self) -> dict[str, Threshold]:
        """The configured value thresholds, or the task's default ones."""
        return self.evaluation.value_thresholds or DEFAULT_VALUE_THRESHOLDS[self.label.task]

    @property
    def slices(self) -> list[list[str]]:
        """The configured slices, plus the fairness gate's feature when no slice has it alone."""
        slices = [list(s) for s in self.evaluation.slices]
        gate = self.evaluation.fairness_gate
        if gate and [gate.feature] not in slices:
            slices.append([gate.feature])
        return slices

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)

    def fingerprint(self) -> str:
        """Stable hash of the config's content, recorded with every pushed model."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


assert set(DEFAULT_VALUE_THRESHOLDS) == set(TASKS)


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        # Union members add their tag to the path (features.3.bucketize.buckets); keep it.
        where = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        # A check across fields names its field(s) at the start of its message.
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


def parse_config(data: dict | str, origin: str = "config") -> PipelineConfig:
    """A config from a mapping or its JSON text (how components receive it)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{origin} is not valid JSON: {err}") from None
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{origin} is invalid:\n{_format_errors(err)}") from None


def parse_thresholds(data: dict, task: Task, origin: str = "value_thresholds") -> dict[str, Threshold]:
    """The Evaluator's runtime parameter, checked like the config's own thresholds."""
    try:
        parsed = Evaluation.model_validate({"value_thresholds": data}).value_thresholds
    except ValidationError as err:
        raise ConfigError(f"{origin} is invalid:\n{_format_errors(err)}") from None
    unknown = sorted(set(parsed) - set(known_metrics(task)))
    if unknown:
        raise ConfigError(f"{origin}: {unknown} are not {task} metrics; known: {list(known_metrics(task))}")
    if not parsed:
        raise ConfigError(f"{origin}: empty; a blessing that checks nothing would bless every model")
    return parsed


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    return parse_config(data, origin=str(path))
