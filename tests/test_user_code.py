"""The user's own preprocessing_fn and run_fn (TFX module-file style), on the executors: the
module file is copied into the run and used by Transform and Trainer; what it exports is what
the Evaluator and the predictor read; a broken module fails naming the field and the file."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.user_code import UserCodeError, load_function
from contracts.config import ConfigError, UserCode, parse_config
from tests.conftest import REPO, evaluate


def test_module_file_is_copied_into_the_run_and_used(user_code_chain):
    copy = user_code_chain.transform_graph / "module" / "module.py"
    assert copy.read_bytes() == (REPO / "examples" / "penguins_user_code" / "module.py").read_bytes()
    spec = tft.TFTransformOutput(str(user_code_chain.transform_graph)).transformed_feature_spec()
    # The user's features (bill_ratio is theirs alone) and the label passed through.
    assert set(spec) == {
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "bill_ratio",
        "island",
        "sex",
        "species",
    }
    result = user_code_chain.train_result
    assert result.run_fn == "run_fn" and result.strategy == "run_fn's own"
    saved = json.loads((user_code_chain.model_run / "train_result.json").read_text())
    assert saved["run_fn"] == "run_fn"


def test_user_model_serves_and_evaluates_like_the_generated_one(user_code_chain, tmp_path):
    model = tf.saved_model.load(str(user_code_chain.model / "Format-Serving"))
    assert set(model.signatures) == {"serving_default", "serving_raw"}
    raw = model.signatures["serving_raw"].structured_input_signature[1]
    assert set(raw) == set(user_code_chain.config.feature_names)
    out = model.signatures["serving_raw"](
        **{n: tf.constant([""] if s.dtype == tf.string else [40], dtype=s.dtype) for n, s in raw.items()}
    )
    assert out["probabilities"].shape == (1, 3)
    blessing = evaluate(user_code_chain, user_code_chain.config, tmp_path)
    assert blessing.overall_metrics["accuracy"] > 0.85 and blessing.blessed, blessing.reasons


def test_broken_user_code_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def preprocessing_fn(inputs):\n    return inputs\nimport no_such_module\n")
    code = UserCode(module_file=str(bad), preprocessing_fn="preprocessing_fn")
    with pytest.raises(UserCodeError, match=r"user_code.module_file .*bad.py: cannot import it: ModuleNotFoundError"):
        load_function(code, "preprocessing_fn")
    good = tmp_path / "good.py"
    good.write_text("def preprocess(inputs):\n    return inputs\n")
    with pytest.raises(
        UserCodeError, match=r"good.py has no function 'preprocessing_fn' \(it defines \['preprocess'\]\)"
    ):
        load_function(UserCode(module_file=str(good), preprocessing_fn="preprocessing_fn"), "preprocessing_fn")
    with pytest.raises(UserCodeError, match="user_code.module_file: not found"):
        from components.common.user_code import copy_module_file

        copy_module_file(UserCode(module_file=str(tmp_path / "nope.py"), run_fn="run_fn"), str(tmp_path / "out"))
    with pytest.raises(UserCodeError, match="user_code.run_fn: cannot import 'no_pkg.models'"):
        load_function(UserCode(run_fn="no_pkg.models.run_fn"), "run_fn")
    fn = load_function(UserCode(preprocessing_fn="numpy.linalg.norm"), "preprocessing_fn")
    assert fn is np.linalg.norm


def test_user_code_config_is_checked(tmp_path):
    base = {
        "pipeline_name": "p",
        "model_name": "m",
        "data": {"source": "x.csv"},
        "label": {"name": "y", "task": "regression"},
        "push": {"registry": "r"},
        "evaluation": {"value_thresholds": {"MeanAbsoluteError": {"upper_bound": 1}}},
    }
    with pytest.raises(
        ConfigError,
        match=r"features: \['a'\] have no transform; give one .* or set "
        "user_code.preprocessing_fn",
    ):
        parse_config(base | {"features": ["a"]})
    with pytest.raises(ConfigError, match="with module_file, name a function in it"):
        parse_config(base | {"features": ["a"], "user_code": {"module_file": "m.py", "preprocessing_fn": "m.fn"}})
    with pytest.raises(ConfigError, match="without module_file, give an import path"):
        parse_config(base | {"features": ["a"], "user_code": {"preprocessing_fn": "fn"}})
    config = parse_config(
        base
        | {
            "features": ["a", {"name": "b", "transform": "zscore"}],
            "user_code": {"module_file": "m.py", "preprocessing_fn": "fn"},
        }
    )
    assert [f.transform for f in config.features] == ["none", "zscore"]


def test_module_file_on_an_object_store_is_loaded(tmp_path):
    """gs:// goes through tf.io.gfile; TensorFlow's in-memory ram:// file system takes the
    same path here (no GCS from this machine)."""
    path = f"ram://user-code-{os.getpid()}/features.py"
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("def preprocessing_fn(inputs):\n    return {'x': inputs['x'] * 2}\n")
    fn = load_function(UserCode(module_file=path, preprocessing_fn="preprocessing_fn"), "preprocessing_fn")
    assert fn({"x": 21}) == {"x": 42}
    from components.common.user_code import copy_module_file

    copy = copy_module_file(UserCode(module_file=path, preprocessing_fn="preprocessing_fn"), str(tmp_path))
    assert open(copy).read().startswith("def preprocessing_fn")
