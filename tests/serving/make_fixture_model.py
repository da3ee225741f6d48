"""Regenerates tests/serving/fixtures/: the pushed model the serving tests load, and rows.

Run it with the PIPELINE environment (it uses the pipeline's own code; the serving env has
no tf.Transform and cannot train):

    make run                                        # trains, evaluates and pushes a version
    .venv/bin/python tests/serving/make_fixture_model.py
    # or: ... make_fixture_model.py --source artifacts/registry/chicago_taxi_big_tipper/<version>

It copies one pushed version (by default the newest complete one in the registry of
configs/chicago_taxi.yaml, as components.pusher.executor.latest_version picks it) to
tests/serving/fixtures/model/<version>/ unchanged (saved_model.pb, variables/, assets/,
model_metadata.json), replacing any older fixture version, and writes
tests/serving/fixtures/rows.json:
  - `instances`: rows of data/chicago_taxi/data.csv as raw feature dicts typed like the
    `serving_raw` signature, a missing value sent as the fill value (0 / "");
  - `expected_serving_default`: the probabilities the model gives the same rows through
    `serving_default`, fed tf.Examples built by ExampleGen's own `to_example` (a missing value
    is an absent feature), computed here in the pipeline environment.
The serving tests then check that the server's v1 and v2 answers equal both `serving_raw`
called in-process in the serving env and these pipeline-env `serving_default` results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.example_gen.executor import BYTES, FLOAT, INT, to_example  # noqa: E402
from components.pusher.executor import METADATA_FILE, latest_version, model_base  # noqa: E402
from pipelines.config import load_config  # noqa: E402

FIXTURES = REPO / "tests" / "serving" / "fixtures"
TAXI_CSV = REPO / "data" / "chicago_taxi" / "data.csv"
# 64 rows well inside the sample; they include missing values (empty cells).
ROWS = (5000, 5064)


def main() -> None:
    config = load_config(REPO / "configs" / "chicago_taxi.yaml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="a pushed version directory (default: the newest in --registry)")
    parser.add_argument("--registry", default=str(REPO / config.push.registry))
    args = parser.parse_args()

    if args.source:
        source = Path(args.source).resolve()
    else:
        found = latest_version(args.registry, config.model_name)
        if found is None:
            sys.exit(f"no pushed version under {model_base(args.registry, config.model_name)}: "
                     f"run `make run` first, or pass --source")
        source = Path(model_base(args.registry, config.model_name)) / str(found[0])
    if not (source / METADATA_FILE).exists() or not (source / "saved_model.pb").exists():
        sys.exit(f"{source} is not a complete pushed version (needs saved_model.pb and {METADATA_FILE})")

    model_dir = FIXTURES / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    target = model_dir / source.name
    shutil.copytree(source, target)

    model = tf.saved_model.load(str(target))
    raw_spec = model.signatures["serving_raw"].structured_input_signature[1]
    kinds = {n: (INT if s.dtype == tf.int64 else FLOAT if s.dtype == tf.float32 else BYTES)
             for n, s in raw_spec.items()}
    rows = pd.read_csv(TAXI_CSV, dtype=str, keep_default_na=False).iloc[ROWS[0]:ROWS[1]]
    assert (rows[list(kinds)] == "").any(axis=None), "the fixture rows should include missing values"

    instances = []
    for record in rows[list(kinds)].to_dict("records"):
        instance = {}
        for name, text in record.items():
            if kinds[name] == INT:
                instance[name] = int(text) if text != "" else 0
            elif kinds[name] == FLOAT:
                instance[name] = float(text) if text != "" else 0.0
            else:
                instance[name] = text
        instances.append(instance)
    examples = [to_example(r, kinds) for r in rows[list(kinds)].to_dict("records")]
    expected = model.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()

    metadata = json.loads((target / METADATA_FILE).read_text())
    (FIXTURES / "rows.json").write_text(json.dumps({
        "source": f"data/chicago_taxi/data.csv rows {ROWS[0]}..{ROWS[1] - 1} (0-based, header excluded)",
        "model_version": str(metadata["version"]),
        "model_name": metadata["model_name"],
        "instances": instances,
        "expected_serving_default": [float(p) for p in expected.astype(np.float32)],
    }, indent=1) + "\n")
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"copied {source} -> {target} ({size / 1024:.0f} KiB); wrote {FIXTURES / 'rows.json'} "
          f"({len(instances)} rows)")


if __name__ == "__main__":
    main()
