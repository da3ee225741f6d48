"""Monitoring benchmark (not a test): 100k logged requests through the monitoring pipeline,
end to end under kfp.local (as `tabml monitor` runs it) and in-process (the executors called
directly), with the time of each step. The target (issue 11): <= 60 s end to end on 2 cores.

    .venv/bin/python bench/monitor.py                  # 100k rows
    .venv/bin/python bench/monitor.py --rows 20000     # fewer
    .venv/bin/python bench/monitor.py --profile 25     # + cProfile of the in-process steps

The data: the example's rows (examples/chicago_taxi/data.csv), shuffled with a seeded RNG and
drawn with replacement, logged by the predictor's own writer (serving/predictor/request_log.py)
as requests of 1 to 8 instances spread over one day, typed as the example's schema says with
missing values filled (0 / "") as the predictor fills them. The registry holds one version
whose training statistics are ExampleGen + StatisticsGen's train split of the same file.
Prints JSON lines (rows, seconds per step, total, peak RSS of this process and of its
children); nothing here fails on time.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import importlib.util
import io
import json
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from components.common.readers import load_schema  # noqa: E402
from components.example_gen import executor as example_gen  # noqa: E402
from components.monitor import executor as monitor  # noqa: E402
from components.request_window import executor as request_window  # noqa: E402
from components.retrain_trigger import executor as retrain_trigger  # noqa: E402
from components.statistics_gen import executor as statistics_gen  # noqa: E402
from contracts.config import load_config  # noqa: E402
from contracts.registry import METADATA_FILE, TRAINING_STATS  # noqa: E402

EXAMPLE = REPO / "examples" / "chicago_taxi"
VERSION = "1795336860"
DAY_START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
FILL = {"INT": 0, "FLOAT": 0.0, "BYTES": ""}


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def peak_rss_mb() -> dict[str, float]:
    """ru_maxrss is KiB on Linux; children: the largest of the finished subprocesses."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self": round(own, 1), "children": round(children, 1)}


def local_config(root: Path):
    """The example's config with absolute paths and its registry under `root`."""
    data = load_config(EXAMPLE / "config.yaml").model_dump(mode="json", exclude_none=True)
    data["data"]["source"] = str(EXAMPLE / "data.csv")
    data["validation"]["schema_path"] = str(REPO / data["validation"]["schema_path"])
    data["push"]["registry"] = str(root / "registry")
    return type(load_config(EXAMPLE / "config.yaml")).model_validate(data)


def build_registry(config, root: Path) -> str:
    """One version whose training statistics are the real executors' train split of the example."""
    examples, statistics = root / "examples", root / "statistics"
    example_gen.run(config, example_gen.Inputs(), example_gen.Outputs(examples=str(examples)))
    statistics_gen.run(
        config, statistics_gen.Inputs(examples=str(examples)), statistics_gen.Outputs(statistics=str(statistics))
    )
    version = root / "registry" / config.model_name / VERSION
    (version / TRAINING_STATS).parent.mkdir(parents=True)
    (version / TRAINING_STATS).write_bytes((statistics / "Split-train" / "FeatureStats.pb").read_bytes())
    metadata = {"task": "binary", "metrics": {"auc": 0.9}, "label": {"name": config.label.name}}
    (version / METADATA_FILE).write_text(json.dumps(metadata))
    return str(root / "registry")


def instances(config, rows: int, seed: int) -> list[dict]:
    """`rows` example rows (drawn with replacement), typed as the schema says, missing filled."""
    kinds = {1: "BYTES", 2: "INT", 3: "FLOAT"}  # schema_pb2.FeatureType
    types = {f.name: kinds[f.type] for f in load_schema(config.validation.schema_path).feature}
    data = pd.read_csv(EXAMPLE / "data.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    picked = data.iloc[rng.permutation(len(data))].iloc[rng.integers(0, len(data), rows)]
    columns = {}
    for name in config.feature_names:
        text = picked[name]
        kind = types[name]
        if kind == "BYTES":
            columns[name] = text.tolist()
            continue
        numbers = pd.to_numeric(text.replace({"": None, "NA": None}), errors="coerce")
        numbers = numbers.fillna(FILL[kind])
        columns[name] = numbers.astype("int64").tolist() if kind == "INT" else numbers.astype(float).tolist()
    return pd.DataFrame(columns).to_dict("records")


def write_log(path: Path, rows: list[dict], seed: int) -> int:
    """Requests of 1 to 8 instances over one day, through the predictor's own writer."""
    spec = importlib.util.spec_from_file_location("_request_log", REPO / "serving" / "predictor" / "request_log.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logger = module.RequestLogger(str(path), "bench")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, len(rows))
    ends = np.cumsum(sizes)
    ends = ends[ends < len(rows)].tolist() + [len(rows)]
    step = dt.timedelta(days=1) / (len(ends) + 1)
    first, clock = 0, {}
    module._now = lambda: clock["now"]
    for n, end in enumerate(ends):
        clock["now"] = (DAY_START + (n + 1) * step).isoformat(timespec="milliseconds")[:-6] + "Z"
        batch = rows[first:end]
        logger.predictions(
            request_id=f"req-{n}",
            model_name="bench",
            model_version=VERSION,
            task="binary",
            protocol="v1",
            features=batch,
            predictions=[round(float(p), 3) for p in rng.uniform(0, 1, len(batch))],
        )
        first = end
    logger.close()
    return len(ends)


def window_args() -> dict:
    return {"start": DAY_START.isoformat(), "end": (DAY_START + dt.timedelta(days=1)).isoformat()}


def end_to_end(config, root: Path, logs: Path, registry: str) -> None:
    from pipelines.monitoring_pipeline import run_monitor_local

    start = time.perf_counter()
    run = run_monitor_local(config, root / "runs", str(logs), registry=registry, **window_args())
    total = time.perf_counter() - start
    decision = json.loads((Path(run.artifacts["monitor"]["decision"]) / monitor.DECISION_FILE).read_text())
    emit(
        mode="kfp.local",
        seconds={k: round(v, 2) for k, v in run.task_seconds.items()},
        total_seconds=round(total, 2),
        decision=decision["decision"],
        reasons=decision["reasons"],
        peak_rss_mb=peak_rss_mb(),
    )


def in_process(config, root: Path, logs: Path, registry: str, profile: int) -> None:
    out = root / "in_process"
    steps = {
        "request-window": lambda: request_window.run(
            config,
            request_window.Inputs(request_log=str(logs), model_registry=registry, **window_args()),
            request_window.Outputs(window=str(out / "window"), statistics=str(out / "statistics")),
        ),
        "monitor": lambda: monitor.run(
            config,
            monitor.Inputs(window=str(out / "window"), statistics=str(out / "statistics"), model_registry=registry),
            monitor.Outputs(
                decision=str(out / "decision"), report=str(out / "report.md"), view=str(out / "report.html")
            ),
        ),
        "retrain-trigger": lambda: retrain_trigger.run(
            config,
            retrain_trigger.Inputs(decision=str(out / "decision"), model_registry=registry),
            retrain_trigger.Outputs(result=str(out / "trigger")),
        ),
    }
    seconds, results = {}, {}
    for name, call in steps.items():
        profiler = cProfile.Profile() if profile else None
        start = time.perf_counter()
        results[name] = profiler.runcall(call) if profiler else call()
        seconds[name] = round(time.perf_counter() - start, 2)
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(profile)
            print(f"--- cProfile {name}\n{text.getvalue()}", file=sys.stderr)
    emit(
        mode="in-process",
        seconds=seconds,
        total_seconds=round(sum(seconds.values()), 2),
        rows=results["request-window"].rows,
        decision=results["monitor"].decision,
        reasons=results["monitor"].reasons,
        peak_rss_mb=peak_rss_mb(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, help="print the top N cProfile entries of each step")
    parser.add_argument("--keep", action="store_true", help="keep the generated log, registry and outputs")
    parser.add_argument("--skip-kfp", action="store_true", help="the in-process run only")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        config = local_config(root)
        start = time.perf_counter()
        registry = build_registry(config, root)
        rows = instances(config, args.rows, args.seed)
        requests = write_log(root / "logs", rows, args.seed)
        size = sum(p.stat().st_size for p in (root / "logs").iterdir())
        emit(
            mode="setup",
            rows=len(rows),
            requests=requests,
            log_mb=round(size / 2**20, 1),
            cpus=len(os.sched_getaffinity(0)),
            seconds=round(time.perf_counter() - start, 2),
        )
        if not args.skip_kfp:
            end_to_end(config, root, root / "logs", registry)
            # A fresh history: the in-process run then also compares against no previous window.
            history = Path(monitor.history_dir(registry, config.model_name))
            for entry in history.iterdir() if history.exists() else []:
                for f in entry.iterdir():
                    f.unlink()
                entry.rmdir()
        in_process(config, root, root / "logs", registry, args.profile)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
