"""Which version the predictor serves from a registry base path (the Pusher's layout)."""

from __future__ import annotations

import json
import shutil

import pytest

from predictor.model_dir import ModelDirError, resolve


def test_base_path_serves_the_highest_complete_version(tmp_path, version_dir):
    base = tmp_path / "some_model"
    shutil.copytree(version_dir, base / "100")
    shutil.copytree(version_dir, base / "200")
    meta = json.loads((base / "200" / "model_metadata.json").read_text())
    (base / "200" / "model_metadata.json").write_text(json.dumps({**meta, "version": 200}))
    # a push in progress / failed on gs://: no model_metadata.json yet -> not servable
    shutil.copytree(version_dir, base / "300")
    (base / "300" / "model_metadata.json").unlink()
    (base / ".staging-abc").mkdir()  # the local Pusher's staging dir
    (base / "notes").mkdir()

    resolved = resolve(str(base))
    assert resolved.path == str(base / "200")
    assert resolved.version == "200"
    assert resolved.metadata["model_name"] == "chicago_taxi_big_tipper" and resolved.metadata["version"] == 200


def test_version_dir_is_served_as_is(version_dir, rows):
    resolved = resolve(str(version_dir) + "/")
    assert resolved.path == str(version_dir)
    assert resolved.version == rows["model_version"]


def test_no_servable_model_names_the_path(tmp_path):
    with pytest.raises(ModelDirError, match=str(tmp_path / "nope")):
        resolve(str(tmp_path / "nope"))
    (tmp_path / "empty" / "123").mkdir(parents=True)
    with pytest.raises(ModelDirError, match="no servable model under .*empty"):
        resolve(str(tmp_path / "empty"))
