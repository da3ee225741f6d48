"""The typed config (contracts/config.py): every shipped example loads; bad configs are
rejected with a message that names the field; `tabml validate-config` also checks what the
config names (curated schema, user code) and exits 2 naming the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contracts.config import ConfigError, load_config, parse_config
from pipelines.cli import app
from tests.conftest import EXAMPLES, REPO, TAXI_CONFIG

EXAMPLE_CONFIGS = sorted(EXAMPLES.glob("*/config.yaml"))
EXAMPLE_NAMES = [p.parent.name for p in EXAMPLE_CONFIGS]


def raw(example: str) -> dict:
    """An example's config as the YAML mapping (relative paths, as shipped)."""
    return yaml.safe_load((EXAMPLES / example / "config.yaml").read_text())


def squash(text: str) -> str:
    """Text without whitespace: rich wraps long lines (paths) at the console's width."""
    return re.sub(r"\s+", "", text)


# ------------------------------------------------------------------ the shipped examples


def test_every_example_is_checked():
    assert {"chicago_taxi", "penguins", "penguins_user_code", "auto_mpg"} <= set(EXAMPLE_NAMES)


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=EXAMPLE_NAMES)
def test_example_config_loads(path):
    cfg = load_config(path)
    assert cfg.features and cfg.value_thresholds
    # Every relative path a config names is relative to the repo root, and exists there.
    for named in (cfg.validation.schema_path, cfg.user_code.module_file):
        assert not named or (REPO / named).is_file(), named
    assert parse_config(cfg.to_json()) == cfg
    assert parse_config(cfg.to_json()).fingerprint() == cfg.fingerprint()


def test_taxi_config_values():
    cfg = load_config(TAXI_CONFIG)
    assert cfg.label.task == "binary" and cfg.label.ratio.numerator == "tips"
    # The ratio's denominator is known when predicting: it may be a feature.
    assert cfg.label.ratio.denominator in cfg.feature_names
    assert [s.name for s in cfg.split.splits] == ["train", "eval"]
    assert cfg.evaluation.value_thresholds["AUC"].lower_bound == 0.75


def test_task_of_each_example():
    tasks = {name: load_config(EXAMPLES / name / "config.yaml").label.task for name in EXAMPLE_NAMES}
    assert {"binary", "multiclass", "regression"} <= set(tasks.values())


# ------------------------------------------------------------------ rejected configs


def _set(path: str, value):
    """A mutation that sets a dotted path (creating mappings on the way)."""

    def mutate(d):
        *parents, last = path.split(".")
        for key in parents:
            d = d.setdefault(key, {})
        d[last] = value

    return mutate


def _drop(path: str):
    def mutate(d):
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        del d[last]

    return mutate


def _add_feature(feature):
    return lambda d: d["features"].append(feature)


def _first_feature(feature):
    return lambda d: d["features"].insert(0, feature)


# (example, mutation, what the message must say: the field first)
INVALID = {
    # structure and types
    "split ratios": (
        "chicago_taxi",
        _set("split.splits", [{"name": "train", "ratio": 0.7}, {"name": "eval", "ratio": 0.2}]),
        ["split: split ratios must sum to 1"],
    ),
    "duplicate feature": (
        "chicago_taxi",
        _add_feature({"name": "fare", "transform": "zscore"}),
        ["features: duplicate feature(s) ['fare']"],
    ),
    "unknown transform": ("penguins", _first_feature({"name": "x", "transform": "sqrt"}), ["features.0"]),
    "negative learning rate": ("chicago_taxi", _set("model.learning_rate", -1), ["model.learning_rate"]),
    "one bucket": (
        "auto_mpg",
        _first_feature({"name": "x", "transform": "bucketize", "buckets": 1}),
        ["features.0.bucketize.buckets"],
    ),
    "no push": ("chicago_taxi", _drop("push"), ["push: Field required"]),
    "unknown label key": ("chicago_taxi", _set("label.zero_denominator", "ignore"), ["label.zero_denominator"]),
    "pipeline name": ("chicago_taxi", _set("pipeline_name", "My Pipeline"), ["pipeline_name"]),
    "typo in a key": ("chicago_taxi", _set("model.epoch", 3), ["model.epoch: Extra inputs are not permitted"]),
    "unknown task": ("chicago_taxi", _set("label.task", "ranking"), ["label.task"]),
    # label: binary needs exactly one of positive / positive_above / ratio
    "binary without positive": (
        "chicago_taxi",
        _drop("label.ratio"),
        ["label: a binary label needs exactly one of positive", "got none"],
    ),
    "binary with two": (
        "chicago_taxi",
        _set("label.positive_above", 0.5),
        ["label: a binary label needs exactly one of", "['positive_above', 'ratio']"],
    ),
    "binary empty positive": (
        "chicago_taxi",
        lambda d: d["label"].update(positive=[], ratio=None),
        ["label: positive: name at least one value"],
    ),
    "positive on multiclass": (
        "penguins",
        _set("label.positive", ["Adelie"]),
        ["label: ['positive'] only apply to task: binary (task is multiclass)"],
    ),
    "positive_above on regression": (
        "auto_mpg",
        _set("label.positive_above", 30.0),
        ["label: ['positive_above'] only apply to task: binary (task is regression)"],
    ),
    "ratio on regression": (
        "auto_mpg",
        _set("label.ratio", {"numerator": "a", "denominator": "b", "min_ratio": 1}),
        ["label: ['ratio'] only apply to task: binary"],
    ),
    "classes on binary": (
        "chicago_taxi",
        _set("label.classes", ["no", "yes"]),
        ["label: classes only apply to task: multiclass (task is binary)"],
    ),
    "classes on regression": (
        "auto_mpg",
        _set("label.classes", ["low", "high"]),
        ["label: classes only apply to task: multiclass (task is regression)"],
    ),
    "repeated class": (
        "penguins",
        _set("label.classes", ["Adelie", "Adelie"]),
        ["label: classes must be two or more distinct values"],
    ),
    "ratio must be positive": ("chicago_taxi", _set("label.ratio.min_ratio", 0), ["label.ratio.min_ratio"]),
    # thresholds: at least one for regression, and only metrics of the task
    "regression without thresholds": (
        "auto_mpg",
        _set("evaluation.value_thresholds", {}),
        ["evaluation.value_thresholds: a regression model needs at least one"],
    ),
    "AUC on regression": (
        "auto_mpg",
        _set("evaluation.value_thresholds", {"AUC": {"lower_bound": 0.7}}),
        ["evaluation.value_thresholds: ['AUC'] are not regression metrics"],
    ),
    "MAE on binary": (
        "chicago_taxi",
        _set("evaluation.value_thresholds", {"MeanAbsoluteError": {"upper_bound": 1}}),
        ["evaluation.value_thresholds: ['MeanAbsoluteError'] are not binary metrics"],
    ),
    "binary AUC on multiclass": (
        "penguins",
        _set("evaluation.value_thresholds", {"AUC": {"lower_bound": 0.7}}),
        ["evaluation.value_thresholds: ['AUC'] are not multiclass metrics"],
    ),
    "misspelt metric": (
        "chicago_taxi",
        _set("evaluation.value_thresholds", {"AUCC": {"lower_bound": 0.5}}),
        ["evaluation.value_thresholds: ['AUCC'] are not binary metrics", "known: ['ExampleCount', 'AUC'"],
    ),
    "change threshold of another task": (
        "auto_mpg",
        _set("evaluation.change_thresholds", {"Accuracy": {"absolute": -0.01}}),
        ["evaluation.change_thresholds: ['Accuracy'] are not regression metrics"],
    ),
    "threshold without bounds": (
        "chicago_taxi",
        _set("evaluation.value_thresholds", {"AUC": {}}),
        ["evaluation.value_thresholds.AUC", "a threshold needs lower_bound, upper_bound"],
    ),
    # fairness gate
    "rate gate on regression": (
        "auto_mpg",
        _set("evaluation.fairness_gate.metric", "false_negative_rate"),
        ["evaluation.fairness_gate.metric: 'false_negative_rate' does not apply to regression", "mean_absolute_error"],
    ),
    "error gate on binary": (
        "chicago_taxi",
        _set("evaluation.fairness_gate.metric", "mean_absolute_error"),
        [
            "evaluation.fairness_gate.metric: 'mean_absolute_error' is not a Fairness Indicators rate",
            "false_negative_rate",
        ],
    ),
    "error gate on multiclass": (
        "penguins",
        _set("evaluation.fairness_gate.metric", "mean_absolute_error"),
        ["evaluation.fairness_gate.metric: 'mean_absolute_error' is not a Fairness Indicators rate"],
    ),
    "multiclass gate without class": (
        "penguins",
        _drop("evaluation.fairness_gate.class_name"),
        ["evaluation.fairness_gate.class_name: name the class whose one-vs-rest"],
    ),
    "gate class not a class": (
        "penguins",
        lambda d: (
            d["label"].update(classes=["Adelie", "Chinstrap", "Gentoo"]),
            d["evaluation"]["fairness_gate"].update(class_name="Emperor"),
        ),
        ["evaluation.fairness_gate.class_name 'Emperor' is not one of label.classes ['Adelie', 'Chinstrap', 'Gentoo']"],
    ),
    "gate class on binary": (
        "chicago_taxi",
        _set("evaluation.fairness_gate.class_name", "1"),
        ["evaluation.fairness_gate.class_name only applies to multiclass"],
    ),
    "gate class on regression": (
        "auto_mpg",
        _set("evaluation.fairness_gate.class_name", "USA"),
        ["evaluation.fairness_gate.class_name only applies to multiclass"],
    ),
    "gate threshold not evaluated": (
        "chicago_taxi",
        _set("evaluation.fairness_gate.threshold", 0.4),
        ["evaluation.fairness_gate.threshold 0.4 is not one of evaluation.fairness_thresholds [0.3, 0.5, 0.7]"],
    ),
    "gate without max_gap": (
        "chicago_taxi",
        _drop("evaluation.fairness_gate.max_gap"),
        ["evaluation.fairness_gate.max_gap: Field required"],
    ),
    # features: no label leak, transforms or the user's preprocessing_fn
    "label column as a feature": (
        "penguins",
        _add_feature({"name": "species", "transform": "vocabulary"}),
        ["features: ['species'] would leak the label"],
    ),
    "regression label as a feature": (
        "auto_mpg",
        _add_feature({"name": "Miles_per_Gallon", "transform": "zscore"}),
        ["features: ['Miles_per_Gallon'] would leak the label"],
    ),
    "ratio numerator as a feature": (
        "chicago_taxi",
        _add_feature({"name": "tips", "transform": "zscore"}),
        ["features: ['tips'] would leak the label"],
    ),
    "plain feature without preprocessing_fn": (
        "chicago_taxi",
        _add_feature("tolls"),
        ["features: ['tolls'] have no transform", "user_code.preprocessing_fn"],
    ),
    "user-code example without user code": (
        "penguins_user_code",
        _drop("user_code"),
        ["features: ['bill_length_mm',", "have no transform", "user_code.preprocessing_fn"],
    ),
    # user code: names in a module file, import paths without one
    "module function as an import path": (
        "penguins_user_code",
        _set("user_code.preprocessing_fn", "module.preprocessing_fn"),
        ["user_code: preprocessing_fn: with module_file, name a function"],
    ),
    "run_fn as an import path with module_file": (
        "penguins_user_code",
        _set("user_code.run_fn", "a.b.run_fn"),
        ["user_code: run_fn: with module_file"],
    ),
    "bare name without module_file": (
        "penguins_user_code",
        _drop("user_code.module_file"),
        ["user_code: preprocessing_fn: without module_file, give an import path"],
    ),
    "module_file naming nothing": (
        "penguins_user_code",
        lambda d: d["user_code"].update(preprocessing_fn="", run_fn=""),
        ["user_code: module_file is set but names neither preprocessing_fn nor run_fn"],
    ),
    "module_file not python": (
        "penguins_user_code",
        _set("user_code.module_file", "examples/module.ipynb"),
        ["user_code: module_file must be a .py file"],
    ),
    # deployment
    "vertex endpoint with a local registry": (
        "chicago_taxi",
        _set("push.vertex_endpoint", {"project": "p", "endpoint": "42"}),
        ["push: vertex_endpoint needs a gs:// registry"],
    ),
    "kserve name": (
        "chicago_taxi",
        _set("push.kserve", {"namespace": "ml", "name": "Not_A_DNS_Name"}),
        ["push.kserve.name"],
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_config_names_the_field(case):
    example, mutate, expected = INVALID[case]
    data = raw(example)
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin=f"{example}.yaml")
    message = str(err.value)
    assert f"{example}.yaml is invalid" in message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_the_ratio_denominator_may_be_a_feature_and_a_binary_label_may_use_positive():
    data = raw("chicago_taxi")
    assert "fare" in [f["name"] for f in data["features"]]  # the shipped config already has it
    parse_config(data)
    data["label"] = {"name": "payment_type", "task": "binary", "positive": ["Credit Card"]}
    data["features"] = [f for f in data["features"] if f["name"] != "payment_type"]
    data["evaluation"]["slices"] = [s for s in data["evaluation"]["slices"] if "payment_type" not in s]
    assert parse_config(data).label.positive == ["Credit Card"]
    data["label"] = {"name": "fare", "task": "binary", "positive_above": 20.0}
    data["features"] = [f for f in data["features"] if f["name"] != "fare"]
    assert parse_config(data).label.positive_above == 20.0


def test_task_defaults_and_plain_feature_names():
    data = raw("penguins")
    data["evaluation"].pop("value_thresholds")
    cfg = parse_config(data)
    assert list(cfg.value_thresholds) == ["Accuracy"]  # the multiclass default
    data = raw("penguins_user_code")
    cfg = parse_config(data)
    assert {f.transform for f in cfg.features} == {"none"}  # plain names: the user's preprocessing_fn


def test_user_code_by_import_path():
    data = raw("penguins_user_code")
    data["user_code"] = {
        "preprocessing_fn": "my_package.preprocessing.preprocessing_fn",
        "run_fn": "my_package.model.run_fn",
    }
    assert parse_config(data).user_code.run_fn == "my_package.model.run_fn"


def test_malformed_json_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="pipeline_config is not valid JSON"):
        parse_config("{not json", origin="pipeline_config")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping of settings, got list"):
        load_config(listing)


# ------------------------------------------------------------------ tabml validate-config


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=EXAMPLE_NAMES)
def test_validate_config_passes_on_each_example(path, monkeypatch):
    monkeypatch.chdir(REPO)  # the examples' paths are relative to the repo root
    cfg = load_config(path)
    result = invoke("validate-config", "--config", str(path.relative_to(REPO)))
    assert result.exit_code == 0, result.output
    out = squash(result.output)
    assert squash(f"ok {path.relative_to(REPO)}: pipeline '{cfg.pipeline_name}'") in out
    if cfg.validation.schema_path:
        assert squash(f"schema {cfg.validation.schema_path}: covers the {len(cfg.features)} features") in out
    for field in ("preprocessing_fn", "run_fn"):
        if getattr(cfg.user_code, field):
            assert squash(f"user_code.{field}: {getattr(cfg.user_code, field)}") in out


def write_config(tmp_path: Path, data: dict) -> Path:
    """A config file whose relative paths point into the repo (so it works from any cwd)."""
    for section, key in (("validation", "schema_path"), ("user_code", "module_file"), ("data", "source")):
        value = data.get(section, {}).get(key)
        if value and not Path(value).is_absolute():
            data[section][key] = str(REPO / value)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def schema_without(tmp_path: Path, example: str, feature: str) -> Path:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse((EXAMPLES / example / "schema.pbtxt").read_text(), schema_pb2.Schema())
    kept = [f for f in schema.feature if f.name != feature]
    assert len(kept) == len(schema.feature) - 1
    del schema.feature[:]
    schema.feature.extend(kept)
    path = tmp_path / "schema.pbtxt"
    path.write_text(text_format.MessageToString(schema))
    return path


def test_validate_config_passes_on_a_copy_outside_the_repo(tmp_path):
    result = invoke("validate-config", "--config", str(write_config(tmp_path, raw("penguins_user_code"))))
    assert result.exit_code == 0, result.output


def _schema_lacks_feature(tmp_path, data):
    data["validation"]["schema_path"] = str(schema_without(tmp_path, "chicago_taxi", "company"))
    return ["no schema feature for configured feature(s) ['company']"]


def _slice_not_in_schema(tmp_path, data):
    data["evaluation"]["slices"].append(["weather"])
    return ["evaluation.slices[5]: ['weather'] are not in the schema"]


def _gate_feature_not_in_schema(tmp_path, data):
    data["evaluation"]["fairness_gate"]["feature"] = "weather"
    return ["evaluation.fairness_gate.feature 'weather' is not in the schema"]


def _missing_module_file(tmp_path, data):
    data["user_code"]["module_file"] = str(tmp_path / "missing_module.py")
    return ["user_code.module_file", "missing_module.py"]


def _undefined_run_fn(tmp_path, data):
    data["user_code"]["run_fn"] = "train_model"
    return ["user_code.run_fn", "has no function 'train_model'", "'preprocessing_fn'", "'run_fn'"]


def _unimportable_preprocessing_fn(tmp_path, data):
    data["user_code"] = {"preprocessing_fn": "no_such_package.prep.preprocessing_fn"}
    return ["user_code.preprocessing_fn: cannot import 'no_such_package.prep'"]


def _module_file_that_fails_to_import(tmp_path, data):
    broken = tmp_path / "broken_module.py"
    broken.write_text("import no_such_package\n\ndef run_fn(fn_args):\n    pass\n")
    data["user_code"]["module_file"] = str(broken)
    return ["user_code.module_file", "cannot import it: ModuleNotFoundError"]


PREFLIGHT = {
    "schema lacks a feature": ("chicago_taxi", _schema_lacks_feature),
    "slice not in the schema": ("chicago_taxi", _slice_not_in_schema),
    "gate feature not in the schema": ("chicago_taxi", _gate_feature_not_in_schema),
    "module_file does not exist": ("penguins_user_code", _missing_module_file),
    "run_fn not in the module": ("penguins_user_code", _undefined_run_fn),
    "import path does not import": ("penguins_user_code", _unimportable_preprocessing_fn),
    "module_file fails to import": ("penguins_user_code", _module_file_that_fails_to_import),
}


@pytest.mark.parametrize("case", PREFLIGHT)
def test_validate_config_fails_naming_the_problem(case, tmp_path):
    example, break_it = PREFLIGHT[case]
    data = raw(example)
    expected = break_it(tmp_path, data)
    result = invoke("validate-config", "--config", str(write_config(tmp_path, data)))
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    out = squash(result.output)
    assert squash("error:") in out
    for part in expected:
        assert squash(part) in out, f"{part!r} not in:\n{result.output}"


def test_cli_rejects_invalid_config_before_running(tmp_path):
    data = raw("chicago_taxi")
    data["model"]["batch_size"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    for command in (["validate-config"], ["compile", "--output-dir", str(tmp_path / "out")], ["run-local"]):
        result = invoke(*command, "--config", str(bad))
        assert result.exit_code == 2, result.output
        assert "model.batch_size" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_reports_missing_and_malformed_files(tmp_path):
    result = invoke("validate-config", "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "config file not found" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipeline_name: [unclosed\n")
    result = invoke("validate-config", "--config", str(broken))
    assert result.exit_code == 2 and "not valid YAML" in result.output


def test_a_change_threshold_takes_its_metrics_direction():
    data = yaml.safe_load((EXAMPLES / "auto_mpg" / "config.yaml").read_text())
    data["evaluation"]["change_thresholds"] = {"MeanAbsoluteError": {"absolute": 0.25}}
    change = parse_config(data).evaluation.change_thresholds["MeanAbsoluteError"]
    assert change.direction == "lower_is_better"  # an error that grew must not pass
    data["evaluation"]["change_thresholds"]["MeanAbsoluteError"]["direction"] = "higher_is_better"
    with pytest.raises(
        ConfigError,
        match="evaluation.change_thresholds.MeanAbsoluteError.direction: "
        "MeanAbsoluteError is lower_is_better, got higher_is_better",
    ):
        parse_config(data)
