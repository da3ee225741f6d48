"""How the predictor decides the task (predictor/tasks.py), in-process on the fixture models:
model_metadata.json's task when it names one, else the signature's outputs; a task the outputs
do not fit is refused at load, naming what is missing."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import tensorflow as tf
from conftest import each_task

from predictor import tasks as T
from predictor.model import TabularModel


def copy_with_metadata(tmp_path, fixture, edit) -> str:
    target = tmp_path / fixture.rows["model_version"]
    shutil.copytree(fixture.version_dir, target)
    path = target / "model_metadata.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return str(target)


def loaded(path: str) -> TabularModel:
    model = TabularModel("m", path)
    model.load()
    return model


@each_task
def test_the_pushed_task_is_served(fixtures, direct, example):
    fixture = fixtures[example]
    meta = json.loads((fixture.version_dir / "model_metadata.json").read_text())
    assert meta["task"] == fixture.task  # the Pusher records it
    outputs = direct.signature(example).structured_outputs
    assert T.infer_task(outputs) == fixture.task  # ... and the outputs alone say the same
    assert type(T.head_for(meta, outputs)) is T.HEADS[fixture.task]


def test_without_a_task_in_the_metadata_it_is_read_off_the_outputs(tmp_path, fixtures):
    """A version pushed before model_metadata.json had "task": the outputs decide."""
    path = copy_with_metadata(
        tmp_path, fixtures["penguins"], lambda m: {k: v for k, v in m.items() if k not in ("task", "label")}
    )
    model = loaded(path)
    assert model.task == "multiclass" and model.head.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert [o["name"] for o in model.get_output_types()] == ["probabilities", "classes"]


def test_a_task_the_outputs_do_not_fit_is_refused(tmp_path, fixtures):
    path = copy_with_metadata(tmp_path, fixtures["penguins"], lambda m: m | {"task": "regression"})
    with pytest.raises(ValueError, match="a regression model's signature must return 'predictions'"):
        loaded(path)
    unknown = copy_with_metadata(tmp_path / "x", fixtures["penguins"], lambda m: m | {"task": "ranking"})
    with pytest.raises(ValueError, match="task 'ranking'"):
        loaded(unknown)


def test_classes_that_disagree_with_the_metadata_are_refused(tmp_path, fixtures):
    def swap(meta):
        meta["label"]["classes"] = ["Gentoo", "Chinstrap", "Adelie"]
        return meta

    with pytest.raises(ValueError, match="label.classes"):
        loaded(copy_with_metadata(tmp_path, fixtures["penguins"], swap))


def test_infer_task_from_output_specs():
    f32, s = tf.float32, tf.string
    assert T.infer_task({"probabilities": tf.TensorSpec([None], f32)}) == "binary"
    assert (
        T.infer_task({"probabilities": tf.TensorSpec([None, 4], f32), "classes": tf.TensorSpec([None, 4], s)})
        == "multiclass"
    )
    assert T.infer_task({"predictions": tf.TensorSpec([None], f32)}) == "regression"
    with pytest.raises(ValueError, match="cannot tell the task"):
        T.infer_task({"logits": tf.TensorSpec([None, 2], f32)})
    with pytest.raises(ValueError, match="'probabilities' must be float32 \\[batch\\]"):
        T.head_for({"task": "binary"}, {"probabilities": tf.TensorSpec([None, 2], f32)})


def test_regression_buckets_follow_the_training_label_range():
    meta = {"label": {"values": {"train": {"count": 317, "min": 9.0, "max": 44.3}}}}
    buckets = T.regression_buckets(meta)
    assert buckets[0] <= 9.0 - 0.1 * 35.3 and buckets[-1] >= 44.3 + 0.1 * 35.3
    steps = {round(b - a, 9) for a, b in zip(buckets[:-1], buckets[1:], strict=True)}
    assert steps == {2.5} and 10 <= len(buckets) <= 25
    # large and negative ranges too
    wide = T.regression_buckets({"label": {"values": {"train": {"min": -2e5, "max": 3e6}}}})
    assert wide[0] < -2e5 and wide[-1] > 3e6 and len(wide) <= 25
    # no range recorded (or a useless one): a generic symmetric scale around 0
    for meta in (
        {},
        {"label": {"values": {"train": {"count": 0}}}},
        {"label": {"values": {"train": {"min": 3.0, "max": 3.0}}}},
    ):
        generic = T.regression_buckets(meta)
        assert generic == T.GENERIC_VALUE_BUCKETS
    assert generic == tuple(sorted(generic)) and 0.0 in generic and -generic[0] == generic[-1] == 1e6
    assert all(math.isfinite(b) for b in generic)
