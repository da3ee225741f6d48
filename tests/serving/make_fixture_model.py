"""Regenerates tests/serving/fixtures/<example>/: a pushed model the serving tests load, and rows.

Run it with the PIPELINE environment (it uses the pipeline's own code; the serving env has
no tf.Transform and cannot train):

    .venv/bin/python tests/serving/make_fixture_model.py --example chicago_taxi   # binary
    .venv/bin/python tests/serving/make_fixture_model.py --example penguins       # multiclass
    .venv/bin/python tests/serving/make_fixture_model.py --example auto_mpg       # regression
    # or take a version already pushed: ... --source artifacts/registry/<model_name>/<version>
    #                                    ... --registry artifacts/registry   (its newest version)

Without --source / --registry it trains one: the example's config (examples/<name>/config.yaml)
through the executors ExampleGen ... Trainer, the Evaluator and the Pusher (the helpers of
tests/conftest.py), in a temporary directory. The model must be blessed to be pushed.

It copies the pushed version to tests/serving/fixtures/<example>/model/<version>/ unchanged
(saved_model.pb, variables/, assets/, model_metadata.json; training_stats/ is left out: the
predictor does not read it), replacing any older fixture version, and writes
tests/serving/fixtures/<example>/rows.json:
  - `instances`: rows of the example's data (its data.missing_values read as missing, gzip as
    ExampleGen reads it) as raw feature dicts typed like the `serving_raw` signature, a
    missing value sent as the fill value (0 / "");
  - `expected_serving_default`: every output the model gives the same rows through
    `serving_default` ({name: nested lists}), fed tf.Examples built by ExampleGen's own
    `to_example` (a missing value is an absent feature), computed here in the pipeline env.
The serving tests then check that the server's v1 and v2 answers equal both `serving_raw`
called in-process in the serving env and these pipeline-env `serving_default` results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from components.example_gen.executor import BYTES, FLOAT, INT, to_example  # noqa: E402
from contracts.config import load_config  # noqa: E402
from contracts.registry import METADATA_FILE, TRAINING_STATS, latest_version, model_base  # noqa: E402
from contracts.signatures import SERVING_DEFAULT, SERVING_RAW  # noqa: E402

FIXTURES = REPO / "tests" / "serving" / "fixtures"
EXAMPLES = ("chicago_taxi", "penguins", "auto_mpg")
MAX_ROWS = 64


def pick_rows(example: str, frame: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, str]:
    """Up to MAX_ROWS rows, some with missing feature values; and how they were picked."""
    if example == "chicago_taxi":
        # 64 rows well inside the sample; they include missing values (empty cells).
        return frame.iloc[5000:5064], "rows 5000..5063 (0-based, header excluded)"
    # Small examples: every row with a missing feature value, then every n-th row.
    missing = (frame[features] == "").any(axis=1)
    step = math.ceil(len(frame) / (MAX_ROWS - int(missing.sum())))
    chosen = missing | (np.arange(len(frame)) % step == 0)
    assert chosen.sum() <= MAX_ROWS
    return frame[chosen], f"the rows with a missing feature value and every {step}th row"


def pushed_version(example: str, args) -> Path:
    if args.source:
        return Path(args.source).resolve()
    if args.registry:
        config = load_config(REPO / "examples" / example / "config.yaml")
        found = latest_version(args.registry, config.model_name)
        if found is None:
            sys.exit(f"no pushed version under {model_base(args.registry, config.model_name)}")
        return Path(found.path)
    return train_and_push(example, Path(tempfile.mkdtemp(prefix=f"fixture-{example}-")))


def train_and_push(example: str, root: Path) -> Path:
    """The example's config through ExampleGen ... Trainer, Evaluator and Pusher, under root."""
    from components.pusher import executor as pusher
    from tests.conftest import evaluate, example_config, run_chain

    config = example_config(example, root)
    chain = run_chain(config, root)
    evaluate(chain, config, root, statistics=str(chain.statistics))
    result = pusher.run(
        config,
        pusher.Inputs(
            model=str(chain.model),
            blessing=str(root / "blessing"),
            schema=str(chain.schema),
            statistics=str(chain.statistics),
        ),
        pusher.Outputs(pushed_model=str(root / "pushed_model")),
    )
    if not result.pushed:
        sys.exit(f"{example}: nothing pushed: {result.reason} (outputs under {root})")
    return Path(result.destination)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", required=True, choices=EXAMPLES)
    parser.add_argument("--source", help="a pushed version directory")
    parser.add_argument("--registry", help="a registry: its newest version of the example's model_name")
    args = parser.parse_args()
    example = args.example
    config = load_config(REPO / "examples" / example / "config.yaml")

    source = pushed_version(example, args)
    if not (source / METADATA_FILE).exists() or not (source / "saved_model.pb").exists():
        sys.exit(f"{source} is not a complete pushed version (needs saved_model.pb and {METADATA_FILE})")

    out = FIXTURES / example
    model_dir = out / "model"
    if source.is_relative_to(model_dir):  # the fixture itself (rows.json only): keep a copy first
        source = Path(shutil.copytree(source, Path(tempfile.mkdtemp()) / source.name))
    if model_dir.exists():
        shutil.rmtree(model_dir)
    target = model_dir / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(os.path.dirname(TRAINING_STATS)))

    model = tf.saved_model.load(str(target))
    raw_spec = model.signatures[SERVING_RAW].structured_input_signature[1]
    kinds = {
        n: (INT if s.dtype == tf.int64 else FLOAT if s.dtype == tf.float32 else BYTES) for n, s in raw_spec.items()
    }
    features = sorted(kinds)
    data = REPO / config.data.source
    # As ExampleGen reads a CSV: text, '' (and data.missing_values) for missing; gzip by its name.
    frame = pd.read_csv(data, dtype=str, keep_default_na=False, na_values=config.data.missing_values or None)
    frame = frame.fillna("")
    rows, picked = pick_rows(example, frame, features)
    assert (rows[features] == "").any(axis=None), "the fixture rows should include missing values"

    instances = []
    for record in rows[features].to_dict("records"):
        instance = {}
        for name, text in record.items():
            if kinds[name] == INT:
                instance[name] = int(text) if text != "" else 0
            elif kinds[name] == FLOAT:
                instance[name] = float(text) if text != "" else 0.0
            else:
                instance[name] = text
        instances.append(instance)
    examples = [to_example(r, kinds) for r in rows[features].to_dict("records")]
    expected = model.signatures[SERVING_DEFAULT](examples=tf.constant(examples))
    expected_json = {}
    for name, tensor in sorted(expected.items()):
        value = tensor.numpy()
        if value.dtype == object:
            expected_json[name] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
        else:
            expected_json[name] = value.astype(np.float32).astype(float).tolist()

    metadata = json.loads((target / METADATA_FILE).read_text())
    (out / "rows.json").write_text(
        json.dumps(
            {
                "example": example,
                "task": metadata.get("task") or config.label.task,
                "source": f"{config.data.source}: {picked}",
                "model_version": str(metadata["version"]),
                "model_name": metadata["model_name"],
                "instances": instances,
                "expected_serving_default": expected_json,
            },
            indent=1,
        )
        + "\n"
    )
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"copied {source} -> {target} ({size / 1024:.0f} KiB); wrote {out / 'rows.json'} ({len(instances)} rows)")


if __name__ == "__main__":
    main()
