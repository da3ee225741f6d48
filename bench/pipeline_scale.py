"""Scale benchmark (not a test): the training pipeline's executors on synthetic taxi-shaped
data (bench/synthetic.py) at several row counts, each executor in its own subprocess, in the
pipeline's order, as the tests call them (tests/conftest.py): ExampleGen, StatisticsGen,
SchemaGen, ExampleValidator, Transform, Trainer, Evaluator, Pusher (to a registry under the
run's directory, so the Evaluator has no baseline).

    .venv/bin/python bench/pipeline_scale.py                         # 100k rows
    .venv/bin/python bench/pipeline_scale.py --rows 100000 1000000   # and 1M, then t(1M)/t(100k)
    .venv/bin/python bench/pipeline_scale.py --out /tmp/scale --steps Evaluator  # one step again
    .venv/bin/python bench/pipeline_scale.py --out /tmp/scale --steps Evaluator \
        --beam-arg=--direct_running_mode=multi_processing --beam-arg=--direct_num_workers=2

After a first full run the Pusher has pushed to the run's registry: a step run again then has a
baseline (the Evaluator line's "baseline"). --rows-per-shard changes how ExampleGen shards.

Prints one JSON line per step (seconds, CPU seconds, the child's peak RSS, the load average
over its run, Trainer examples/s, ExampleGen's shards, the Evaluator's baseline), one total
line per row count and, for several, the ratios of their times. The data and the artifacts go
to a temporary directory, or to --out (kept, so that --steps can run some steps again).
Figures only: nothing here fails on time.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "chicago_taxi" / "config.yaml"
sys.path.insert(0, str(REPO))

# Step -> (executor module, its Inputs, its Outputs) as paths under the run's directory.
STEPS = {
    "ExampleGen": ("example_gen", {}, {"examples": "examples"}),
    "StatisticsGen": (
        "statistics_gen",
        {"examples": "examples"},
        {"statistics": "statistics", "statistics_view": "statistics.html"},
    ),
    "SchemaGen": ("schema_gen", {"statistics": "statistics"}, {"schema": "schema"}),
    "ExampleValidator": (
        "example_validator",
        {"statistics": "statistics", "schema": "schema", "examples": "examples"},
        {"anomalies": "anomalies", "anomalies_report": "anomalies.md"},
    ),
    "Transform": (
        "transform",
        {"examples": "examples", "schema": "schema"},
        {"transform_graph": "transform_graph", "transformed_examples": "transformed"},
    ),
    "Trainer": (
        "trainer",
        {"transformed_examples": "transformed", "transform_graph": "transform_graph"},
        {"model": "model", "model_run": "model_run"},
    ),
    "Evaluator": (
        "evaluator",
        {"examples": "examples", "schema": "schema", "model": "model", "statistics": "statistics"},
        {"evaluation": "evaluation", "blessing": "blessing", "report": "report.html"},
    ),
    "Pusher": (
        "pusher",
        {"model": "model", "blessing": "blessing", "schema": "schema", "statistics": "statistics"},
        {"pushed_model": "pushed_model"},
    ),
}


def bench_config(csv: Path, root: Path, epochs: int, steps_per_epoch: int):
    """The taxi example's config on the synthetic CSV, with absolute paths and a registry under root."""
    from contracts.config import PipelineConfig, load_config

    data = load_config(CONFIG).model_dump(mode="json", exclude_none=True)
    data["data"]["source"] = str(csv)
    data["validation"]["schema_path"] = str(REPO / data["validation"]["schema_path"])
    data["push"]["registry"] = str(root / "registry")
    if epochs:
        data["model"]["epochs"] = epochs
    if steps_per_epoch:
        data["model"]["steps_per_epoch"] = steps_per_epoch
    return PipelineConfig.model_validate(data)


def run_child(name: str, root: Path, beam_args: list[str], rows_per_shard: int = 0) -> None:
    """One executor, in this process; its Result goes to root/results/<step>.json."""
    import components  # noqa: F401  (the TensorFlow environment, before TensorFlow)
    from components.common.io import setup_logging
    from contracts.config import PipelineConfig

    setup_logging()
    if rows_per_shard:
        from components.example_gen import shards

        shards.ROWS_PER_SHARD = rows_per_shard
    config = PipelineConfig.model_validate_json((root / "config.json").read_text())
    module, inputs, outputs = STEPS[name]
    executor = importlib.import_module(f"components.{module}.executor")
    given = {k: str(root / v) for k, v in inputs.items()}
    if "beam_args" in {f.name for f in dataclasses.fields(executor.Inputs)}:
        given["beam_args"] = tuple(beam_args or config.beam.args("direct"))
    result = executor.run(
        config, executor.Inputs(**given), executor.Outputs(**{k: str(root / v) for k, v in outputs.items()})
    )
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / f"{name}.json").write_text(json.dumps(dataclasses.asdict(result), default=str))


def run_step(name: str, root: Path, beam_args: list[str], rows_per_shard: int = 0) -> dict:
    """The step in a subprocess: wall seconds, the child's peak RSS (wait4), its log under root/logs."""
    (root / "logs").mkdir(exist_ok=True)
    log_path = root / "logs" / f"{name}.log"
    for output in STEPS[name][2].values():  # a step run again starts from no outputs (tf.Transform needs it)
        path = root / output
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", name, "--out", str(root)]
    cmd += [f"--beam-arg={a}" for a in beam_args] + [f"--rows-per-shard={rows_per_shard}"]
    env = os.environ | {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    start, load = time.perf_counter(), os.getloadavg()[0]
    with open(log_path, "w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
    line = {
        "step": name,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux: KiB
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "rc": os.waitstatus_to_exitcode(status),
        "load": [round(load, 2), round(os.getloadavg()[0], 2)],  # 1-minute average, at start and end
    }
    result_path = root / "results" / f"{name}.json"
    if line["rc"] == 0 and result_path.exists():
        result = json.loads(result_path.read_text())
        if name == "Trainer":
            for key in ("examples_per_second", "train_examples_seen", "train_seconds", "epochs"):
                line[f"trainer_{key}"] = result.get(key)
        if name == "ExampleGen":
            line["shards"] = {s: len(list((root / "examples" / f"Split-{s}").glob("*.gz"))) for s in ("train", "eval")}
        if name == "Evaluator":
            line["baseline"] = (result.get("baseline") or {}).get("version")
            line["blessed"] = result.get("blessed")
            line["eval_examples"] = int(result.get("overall_metrics", {}).get("example_count", 0))
    elif line["rc"] != 0:
        tail = log_path.read_text().splitlines()[-15:]
        print("\n".join([f"{name} failed (log: {log_path}):", *tail]), file=sys.stderr)
    return line


def run_scale(rows: int, root: Path, steps: list[str], args) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    csv = root / f"taxi_{rows}.csv"
    if not csv.exists():
        # In a subprocess too: a child's peak RSS counts what its parent held when it was forked.
        start = time.perf_counter()
        make = [sys.executable, str(REPO / "bench" / "synthetic.py"), f"--rows={rows}", f"--seed={args.seed}"]
        subprocess.run([*make, f"--out={csv}"], check=True, stdout=subprocess.DEVNULL)
        print(json.dumps({"rows": rows, "step": "synthetic_csv", "seconds": round(time.perf_counter() - start, 1)}))
    config = bench_config(csv, root, args.epochs, args.steps_per_epoch)
    (root / "config.json").write_text(config.to_json())
    total, peak, by_step = 0.0, 0, {}
    for name in steps:
        line = {"rows": rows} | run_step(name, root, args.beam_arg, args.rows_per_shard)
        print(json.dumps(line), flush=True)
        total, peak, by_step[name] = total + line["seconds"], max(peak, line["peak_rss_mb"]), line["seconds"]
        if line["rc"] != 0:
            return {"rows": rows, "step": "total", "failed": name, "seconds": round(total, 1)}
    load = [round(x, 2) for x in os.getloadavg()]
    return {"rows": rows, "step": "total", "seconds": round(total, 1), "peak_rss_mb": peak, "load": load} | {
        "by_step": by_step
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="default: all, in order")
    parser.add_argument("--out", help="keep the data and artifacts here (<out>/rows_<n>); default: a temp dir")
    parser.add_argument("--epochs", type=int, default=0, help="Trainer epochs (default: the config's)")
    parser.add_argument("--steps-per-epoch", type=int, default=0, help="Trainer steps per epoch (0: the config)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beam-arg", action="append", default=[], help="a Beam option (default: the config's direct)")
    parser.add_argument("--rows-per-shard", type=int, default=0, help="ExampleGen's (0: its default)")
    parser.add_argument("--child", choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, Path(args.out), args.beam_arg, args.rows_per_shard)
        return 0
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="pipeline_scale_"))
    totals = []
    try:
        for rows in args.rows:
            totals.append(run_scale(rows, base / f"rows_{rows}", args.steps, args))
            print(json.dumps(totals[-1]), flush=True)
    finally:
        if not args.out:
            shutil.rmtree(base, ignore_errors=True)
    done = [t for t in totals if "failed" not in t]
    if len(done) > 1:
        first = done[0]
        for t in done[1:]:
            ratio = lambda a, b: round(a / b, 2) if b else None  # noqa: E731
            steps = {s: ratio(v, first["by_step"].get(s, 0)) for s, v in t["by_step"].items()}
            name = f"t({t['rows']})/t({first['rows']})"
            print(json.dumps({"step": "scale", name: ratio(t["seconds"], first["seconds"]), "by_step": steps}))
    return 1 if len(done) < len(totals) else 0


if __name__ == "__main__":
    sys.exit(main())
