"""Trainer benchmark (not a test): examples/s of the generated model on the whole taxi example
(15,002 rows, ~12k in train), first epoch included, each run in a fresh process (the first
epoch's tracing is part of what a pipeline run pays).

    .venv/bin/python bench/trainer.py                      # 3 runs
    .venv/bin/python bench/trainer.py --code /tmp/old-tree # another checkout's trainer, same data

ExampleGen ... Transform run once into --work (kept for later calls). One JSON line per run:
each epoch's seconds (validation included), first-epoch and later-epoch examples/s, the
Trainer's own examples_per_second (all epochs), and the load average. Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "chicago_taxi" / "config.yaml"
DATA = REPO / "examples" / "chicago_taxi" / "data.csv"

# Runs in --code, with that checkout's config type and example config.
_TRAIN_ONCE = """
import json, sys, time
import components
import tf_keras as keras
from components.trainer import executor as trainer
fit_cpu = []
keras_fit = keras.Model.fit
def fit(*args, **kwargs):
    start = time.process_time()
    try:
        return keras_fit(*args, **kwargs)
    finally:
        fit_cpu.append(time.process_time() - start)
keras.Model.fit = fit
from contracts.config import PipelineConfig, load_config
data = load_config("examples/chicago_taxi/config.yaml").model_dump(mode="json", exclude_none=True)
data["data"]["source"] = sys.argv[1]
data["validation"]["schema_path"] = ""
config = PipelineConfig.model_validate(data)
out = sys.argv[3]
result = trainer.run(
    config,
    trainer.Inputs(sys.argv[2] + "/transformed", sys.argv[2] + "/transform_graph"),
    trainer.Outputs(out + "/model", out + "/model_run"),
)
print("RESULT " + json.dumps(result.to_dict() | {"fit_cpu_seconds": sum(fit_cpu)}))
"""


def prepare(work: Path) -> None:
    """ExampleGen, StatisticsGen, SchemaGen and Transform on the example, once."""
    if (work / "transformed").exists():
        return
    sys.path.insert(0, str(REPO))
    import components  # noqa: F401  (the TensorFlow environment)
    from components.example_gen import executor as example_gen
    from components.schema_gen import executor as schema_gen
    from components.statistics_gen import executor as statistics_gen
    from components.transform import executor as transform
    from contracts.config import PipelineConfig, load_config

    data = load_config(CONFIG).model_dump(mode="json", exclude_none=True)
    data["data"]["source"] = str(DATA)
    data["validation"]["schema_path"] = str(REPO / data["validation"]["schema_path"])
    config = PipelineConfig.model_validate(data)
    example_gen.run(config, example_gen.Inputs(), example_gen.Outputs(examples=str(work / "examples")))
    statistics_gen.run(
        config,
        statistics_gen.Inputs(examples=str(work / "examples")),
        statistics_gen.Outputs(statistics=str(work / "statistics")),
    )
    schema_gen.run(
        config, schema_gen.Inputs(statistics=str(work / "statistics")), schema_gen.Outputs(str(work / "schema"))
    )
    transform.run(
        config,
        transform.Inputs(examples=str(work / "examples"), schema=str(work / "schema")),
        transform.Outputs(
            transform_graph=str(work / "transform_graph"), transformed_examples=str(work / "transformed")
        ),
    )


def train_once(code: Path, work: Path) -> dict:
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(code))
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _TRAIN_ONCE, str(DATA), str(work), out],
            cwd=code,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    per_epoch = result["train_examples_seen"] / result["epochs"]
    # Keras's own "Ns/epoch" lines, for a trainer that does not report its epochs (the old one).
    epochs = result.get("epoch_seconds") or _keras_epoch_seconds(done.stdout + done.stderr)
    return {
        "code": str(code),
        "epoch_seconds": epochs,
        "first_epoch_examples_per_second": round(per_epoch / epochs[0]) if epochs else None,
        "later_epochs_examples_per_second": round(per_epoch * (len(epochs) - 1) / sum(epochs[1:]))
        if len(epochs) > 1
        else None,
        "examples_per_second": result["examples_per_second"],
        "train_seconds": result["train_seconds"],
        # CPU time of model.fit, all threads: less sensitive to other load than the wall times.
        "fit_cpu_seconds": round(result["fit_cpu_seconds"], 2),
        "process_seconds": round(wall, 1),
        # the whole child's CPU (import, reading, fit, export): what other load changes least
        "process_cpu_seconds": round(
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 1
        ),
        "final_metrics": {k: round(v, 4) for k, v in result["final_metrics"].items()},
        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }


def _keras_epoch_seconds(log: str) -> list[float]:
    import re

    found = re.findall(r" - (\d+)(m?s)/epoch - ", log)
    return [int(v) / (1000 if unit == "ms" else 1) for v, unit in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "tabml-bench-trainer"))
    parser.add_argument("--code", default=str(REPO), help="the checkout whose trainer runs (default: this one)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prepare(work)
    for _ in range(args.runs):
        print(json.dumps(train_once(Path(args.code).resolve(), work)), flush=True)


if __name__ == "__main__":
    main()
