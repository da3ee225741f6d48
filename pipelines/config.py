"""The one typed config of a pipeline instance (configs/*.yaml).

It is validated before anything runs (compile, run-local) and again inside every
component, so a bad value is reported with the name of the field that holds it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSource(_Strict):
    # A file, a glob, or a directory of files; local path or gs://. Relative local paths
    # are resolved against the working directory (the repo root, or the image WORKDIR).
    source: str = Field(min_length=1)
    format: Literal["csv", "parquet", "auto"] = "auto"

    def resolved_format(self, path: str) -> str:
        # A file's own extension wins (a --data-source override may change the format).
        if path.endswith((".parquet", ".pq")):
            return "parquet"
        if path.endswith(".csv"):
            return "csv"
        return "csv" if self.format == "auto" else self.format


class LabelSpec(_Strict):
    """label = numerator > min_ratio * denominator (taxi: tips > 20% of the fare)."""

    name: str = Field(min_length=1)
    numerator: str = Field(min_length=1)
    denominator: str = Field(min_length=1)
    min_ratio: float = Field(gt=0)
    # A zero, negative or missing denominator, or a missing numerator, leaves the ratio
    # undefined: label such rows 0 ("negative") or leave them out of the data ("drop").
    zero_denominator: Literal["negative", "drop"] = "negative"


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


FeatureSpec = Annotated[Union[ZScore, Bucketize, Vocabulary, Hashing], Field(discriminator="transform")]


class SplitSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    ratio: float = Field(gt=0, lt=1)


class Split(_Strict):
    # Columns whose values decide a row's split; empty means the whole row.
    hash_key: list[str] = []
    splits: list[SplitSpec] = [SplitSpec(name="train", ratio=0.8), SplitSpec(name="eval", ratio=0.2)]

    @model_validator(mode="after")
    def _check(self) -> "Split":
        names = [s.name for s in self.splits]
        if sorted(set(names)) != sorted(names):
            raise ValueError(f"split names must be unique, got {names}")
        if not {"train", "eval"} <= set(names):
            raise ValueError(f"splits must include 'train' and 'eval', got {names}")
        total = sum(s.ratio for s in self.splits)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1, got {total:g}")
        return self


class ModelSpec(_Strict):
    hidden_units: list[Annotated[int, Field(ge=1)]] = [64, 32]
    embedding_dim: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    batch_size: int = Field(default=256, ge=1)
    epochs: int = Field(default=5, ge=1)
    # 0 = one pass over the training split per epoch.
    steps_per_epoch: int = Field(default=0, ge=0)
    seed: int = 42


class Threshold(_Strict):
    lower_bound: float | None = None
    upper_bound: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "Threshold":
        if self.lower_bound is None and self.upper_bound is None:
            raise ValueError("a threshold needs lower_bound, upper_bound or both")
        return self


# TFMA metric class names the Evaluator can compute and gate on.
KNOWN_METRICS = ("ExampleCount", "AUC", "AUCPrecisionRecall", "BinaryAccuracy", "Precision", "Recall",
                 "MeanLabel", "MeanPrediction", "Calibration")


def check_thresholds(thresholds: dict) -> dict:
    unknown = sorted(set(thresholds) - set(KNOWN_METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(KNOWN_METRICS)}")
    return thresholds


def parse_thresholds(data: dict, origin: str = "value_thresholds") -> dict[str, Threshold]:
    """The Evaluator's runtime parameter, checked like the config's own thresholds."""
    try:
        return Evaluation.model_validate({"value_thresholds": data}).value_thresholds
    except ValidationError as err:
        raise ConfigError(f"{origin} is invalid:\n{_format_errors(err)}") from None


# The per-threshold rates the FairnessIndicators metric (fairness-indicators 0.47.0) computes;
# the fairness gate may name any of them. Same order as the library's
# FAIRNESS_INDICATORS_SUB_METRICS (a test checks they agree).
FAIRNESS_METRICS = ("false_positive_rate", "false_negative_rate", "true_positive_rate", "true_negative_rate",
                    "positive_rate", "negative_rate", "false_discovery_rate", "false_omission_rate",
                    "precision", "recall")


class ChangeThreshold(_Strict):
    """A bound on candidate minus baseline (TFMA's GenericChangeThreshold, absolute): with
    higher_is_better the change must be >= absolute (AUC may drop by 0.01 at most: -0.01);
    with lower_is_better it must be <= absolute. Applies only when the registry holds a
    blessed baseline."""
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    absolute: float


class FairnessGate(_Strict):
    """Withholds the blessing when a fairness metric differs too much between groups: the gap
    (largest minus smallest value) of `metric` at decision threshold `threshold` over the
    groups of `feature` that have at least `min_examples` eval examples must be <= max_gap."""
    feature: str = Field(min_length=1)
    metric: Literal[FAIRNESS_METRICS] = "false_negative_rate"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    max_gap: float = Field(ge=0)
    min_examples: int = Field(default=30, ge=1)


class Evaluation(_Strict):
    # Each entry is one slice: a list of feature names (one = single-feature slice, two or
    # more = a cross slice such as [trip_start_hour, payment_type]). The overall slice is
    # always computed.
    slices: list[list[str]] = [["payment_type"]]
    # Slices with fewer eval examples than this are reported without metrics (TFMA's
    # Options.min_slice_size); the overall slice is always kept.
    min_slice_size: int = Field(default=1, ge=1)
    # Bootstrap confidence intervals on every metric (TFMA's Options.compute_confidence_intervals,
    # Poisson bootstrap). Slow: several times the evaluation time.
    confidence_intervals: bool = False
    # Decision thresholds at which FairnessIndicators reports its rates (FPR, FNR, TPR,
    # precision, ...) on every slice.
    fairness_thresholds: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default=[0.5], min_length=1)
    # Metric (TFMA class name) -> bounds on its overall value; all must hold to bless. At
    # least one: a blessing that checks nothing would bless every model.
    value_thresholds: dict[str, Threshold] = Field(default={"AUC": Threshold(lower_bound=0.7)}, min_length=1)
    # Metric (TFMA class name) -> bound on its overall change against the latest blessed
    # model in the registry (the baseline). A first run (empty registry) skips them.
    change_thresholds: dict[str, ChangeThreshold] = {}
    fairness_gate: FairnessGate | None = None

    @field_validator("value_thresholds", "change_thresholds")
    @classmethod
    def _known(cls, v: dict) -> dict:
        return check_thresholds(v)

    @model_validator(mode="after")
    def _gate(self) -> "Evaluation":
        for i, slice_features in enumerate(self.slices):
            if len(set(slice_features)) != len(slice_features):
                raise ValueError(f"slices[{i}]: a feature appears twice in {slice_features}")
        gate = self.fairness_gate
        if gate and not any(abs(gate.threshold - t) < 1e-9 for t in self.fairness_thresholds):
            raise ValueError(f"fairness_gate.threshold {gate.threshold} is not one of fairness_thresholds "
                             f"{self.fairness_thresholds}")
        return self


class Validation(_Strict):
    # A curated schema committed in the repo; when empty, SchemaGen infers one.
    schema_path: str = ""
    # TFDV anomaly types (e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES) reported but not failing.
    warn_only: list[str] = []


class KServeDeploy(_Strict):
    """After a push, serve the new version from a KServe InferenceService as a canary."""
    namespace: str = Field(min_length=1)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    # Share of traffic the new version gets; `taxi-pipeline promote` takes it to 100.
    canary_percent: int = Field(default=10, ge=0, le=100)
    # A rendered InferenceService (kubectl kustomize serving/manifests/overlays/...), used to
    # create it when it does not exist yet.
    template: str = ""


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


class Push(_Strict):
    # Versioned model registry: local directory or gs://bucket/prefix.
    registry: str = Field(min_length=1)
    kserve: KServeDeploy | None = None
    vertex_endpoint: VertexEndpointDeploy | None = None

    @model_validator(mode="after")
    def _vertex_needs_gcs(self) -> "Push":
        if self.vertex_endpoint and not self.registry.startswith("gs://"):
            raise ValueError(f"vertex_endpoint needs a gs:// registry (Vertex reads the model from GCS), "
                             f"got {self.registry!r}")
        return self


class TaskResources(_Strict):
    # Kubernetes quantities; Vertex picks the machine type from the limits.
    cpu: str = Field(default="1", pattern=r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
    memory: str = Field(default="4G", pattern=r"^[0-9]+(\.[0-9]+)?(K|M|G|T|Ki|Mi|Gi|Ti)$")
    gpu_count: int = Field(default=0, ge=0, le=16)
    # Vertex accelerator name (NVIDIA_L4, NVIDIA_TESLA_T4, ...); the GKE node label is
    # derived from it (nvidia-l4, nvidia-tesla-t4, ...).
    gpu_type: str = Field(default="", pattern=r"^(NVIDIA_[A-Z0-9_]+)?$")

    @model_validator(mode="after")
    def _gpu(self) -> "TaskResources":
        if self.gpu_count and not self.gpu_type:
            raise ValueError("gpu_count > 0 needs a gpu_type such as NVIDIA_L4")
        return self

    @property
    def gke_accelerator(self) -> str:
        return self.gpu_type.lower().replace("_", "-")


class Resources(_Strict):
    default: TaskResources = TaskResources()
    trainer: TaskResources = TaskResources(cpu="4", memory="16G", gpu_count=1, gpu_type="NVIDIA_L4")
    # Retries for transient failures (pre-empted nodes, storage hiccups). ExampleValidator is
    # never retried: bad data fails the same way every time.
    retries: int = Field(default=2, ge=0, le=10)


class PipelineConfig(_Strict):
    pipeline_name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    model_name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    data: DataSource
    label: LabelSpec
    features: list[FeatureSpec] = Field(min_length=1)
    split: Split = Split()
    model: ModelSpec = ModelSpec()
    evaluation: Evaluation = Evaluation()
    validation: Validation = Validation()
    push: Push
    resources: Resources = Resources()

    @model_validator(mode="after")
    def _cross_checks(self) -> "PipelineConfig":
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate feature(s) {dupes}")
        leaks = {self.label.name, self.label.numerator} & set(names)
        if leaks:
            raise ValueError(f"features: {sorted(leaks)} would leak the label into the model")
        for i, slice_features in enumerate(self.evaluation.slices):
            if not slice_features:
                raise ValueError(f"evaluation.slices[{i}]: empty (the overall slice is always computed)")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)

    def fingerprint(self) -> str:
        """Stable hash of the config's content, recorded with every pushed model."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
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
