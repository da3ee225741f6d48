"""Local run vs its floor (not a test): `tabml run-local` (kfp.local, one subprocess per step)
against the same steps called in one process (the floor: every import paid once, no process
start-ups), on one config (default: the chicago_taxi example, its 15k-row sample).

    .venv/bin/python bench/local_floor.py [--config C] [--out DIR] [--skip pipeline|floor|imports]

The floor runs the training pipeline's own component functions in the DAG's order, with the
arguments the compiled pipeline spec gives each task, on artifacts under DIR/floor; the
pipeline runs `tabml run-local` with DIR/runs and its own empty registry (neither has a baseline).
Prints JSON lines: each step's import time in a fresh process (what every kfp.local step pays
before it runs), the floor's steps, the pipeline's steps, then a summary with wall and CPU
seconds (children included) and the ratios pipeline/floor, with the load average before and
after each part (CPU seconds mean more than wall on a busy machine). Figures only: nothing
here fails on time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = REPO / "examples" / "chicago_taxi" / "config.yaml"
PYTHON = sys.executable
TABML = str(Path(PYTHON).with_name("tabml"))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measured(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Runs cmd; its wall seconds and CPU seconds (its children's too, once waited for)."""
    cpu, start = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True, **kwargs)
    return done, time.perf_counter() - start, _cpu(resource.RUSAGE_CHILDREN) - cpu


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def training_dag(config_path: Path, registry: Path | None = None):
    """The local training pipeline as kfp.local runs it: its spec (a dict), the tasks in an
    order that respects their dependencies, and component name in the spec -> component."""
    from google.protobuf import json_format
    from kfp.dsl.python_component import PythonComponent

    from contracts.config import load_config
    from pipelines import training_pipeline
    from pipelines.local_run import localise

    config = localise(load_config(config_path))
    if registry:
        config = config.model_copy(update={"push": config.push.model_copy(update={"registry": str(registry)})})
    spec = json_format.MessageToDict(training_pipeline.build_pipeline(config).pipeline_spec)
    tasks = spec["root"]["dag"]["tasks"]
    order: list[str] = []
    while len(order) < len(tasks):
        order.append(
            next(n for n, t in tasks.items() if n not in order and set(t.get("dependentTasks", [])) <= set(order))
        )
    found = [c for c in vars(training_pipeline).values() if isinstance(c, PythonComponent)]
    return spec, order, {f"comp-{c.name}": c for c in found}


def executor_module(component) -> str:
    """The executor module a component runs (its package's executor.py)."""
    return component.python_func.__module__.rsplit(".", 1)[0] + ".executor"


# --- the imports each kfp.local step pays ----------------------------------------------------------

IMPORT_PROBE = """
import json, resource, sys, time
start = time.perf_counter()
import kfp.dsl.executor_main, contracts.config, components.common.io
{extra}
r = resource.getrusage(resource.RUSAGE_SELF)
heavy = [m for m in ("tensorflow", "tensorflow_data_validation", "tensorflow_transform",
                     "tensorflow_model_analysis", "apache_beam", "IPython", "sklearn") if m in sys.modules]
print(json.dumps({{"wall_s": round(time.perf_counter() - start, 2),
                   "cpu_s": round(r.ru_utime + r.ru_stime, 2), "imports": heavy}}))
"""


def import_times(config: Path) -> None:
    spec, order, components = training_dag(config)
    tasks = spec["root"]["dag"]["tasks"]
    modules = {name: executor_module(components[tasks[name]["componentRef"]["name"]]) for name in order}
    steps = {"(kfp executor + contracts + common.io)": "", **modules}
    for step, module in steps.items():
        probe = IMPORT_PROBE.format(extra=f"import {module}" if module else "")
        # As a kfp.local step runs: kfp's runtime mode imports less of kfp.
        done, _, _ = measured([PYTHON, "-c", probe], env={**os.environ, "_KFP_RUNTIME": "true"})
        if done.returncode:
            emit(bench="import", step=step, error=done.stderr.strip().splitlines()[-1:])
            continue
        emit(bench="import", step=step, module=module, **json.loads(done.stdout.strip().splitlines()[-1]))


# --- the floor: the component functions in one process --------------------------------------------


def _artifact(annotation, uri: str):
    from kfp.dsl.types import type_annotations

    cls = type_annotations.get_io_artifact_class(annotation)
    return cls(name=os.path.basename(uri), uri=uri, metadata={})


def run_floor(config_path: Path, out: Path) -> None:
    """In this process: every executor imported once, then each task of the compiled DAG."""
    start, cpu = time.perf_counter(), _cpu()
    spec, order, components = training_dag(config_path, registry=out / "registry")
    tasks = spec["root"]["dag"]["tasks"]
    import kfp.dsl.executor_main  # noqa: F401 (what each kfp.local step imports too)
    from kfp.dsl.types import type_annotations

    for name in order:
        importlib.import_module(executor_module(components[tasks[name]["componentRef"]["name"]]))
    emit(bench="floor", step="imports", wall_s=round(time.perf_counter() - start, 2), cpu_s=round(_cpu() - cpu, 2))

    defaults = {k: v.get("defaultValue") for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}
    outputs: dict[str, dict] = {}
    for name in order:
        task = tasks[name]
        func = components[task["componentRef"]["name"]].python_func
        annotations = func.__annotations__
        kwargs = {}
        for param, source in task["inputs"].get("parameters", {}).items():
            if "componentInputParameter" in source:
                value = defaults[source["componentInputParameter"]]
            else:
                value = source.get("runtimeValue", {}).get("constant")
            kwargs[param] = int(value) if annotations.get(param) is int else value
        for arg, source in task["inputs"].get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            kwargs[arg] = outputs[producer["producerTask"]][producer["outputArtifactKey"]]
        made = {
            arg: _artifact(annotation, str(out / "floor" / name / arg))
            for arg, annotation in annotations.items()
            if type_annotations.is_artifact_wrapped_in_Output(annotation)
        }
        (out / "floor" / name).mkdir(parents=True, exist_ok=True)
        step_start, step_cpu = time.perf_counter(), _cpu()
        func(**kwargs, **made)
        emit(
            bench="floor",
            step=name,
            wall_s=round(time.perf_counter() - step_start, 2),
            cpu_s=round(_cpu() - step_cpu, 2),
        )
        outputs[name] = made
    emit(bench="floor", step="total", wall_s=round(time.perf_counter() - start, 2), cpu_s=round(_cpu() - cpu, 2))


# --- the two, measured from outside ----------------------------------------------------------------


def floor(config: Path, out: Path) -> dict:
    before = load()
    with open(out / "floor.log", "w") as log:
        cpu, start = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(
            [PYTHON, __file__, "--config", str(config), "--out", str(out), "--floor-here"],
            cwd=REPO,
            text=True,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        wall, cpu = time.perf_counter() - start, _cpu(resource.RUSAGE_CHILDREN) - cpu
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line), flush=True)
    if done.returncode:
        emit(bench="floor", error=f"exit {done.returncode}; see {out / 'floor.log'}")
    steps = {x["step"]: x["wall_s"] for x in lines if x["step"] not in ("imports", "total")}
    imports = next((x for x in lines if x["step"] == "imports"), {})
    return {"wall_s": wall, "cpu_s": cpu, "steps": steps, "import_s": imports.get("wall_s"), "load": [before, load()]}


def pipeline(config: Path, out: Path, warm: bool = True) -> dict:
    before = load()
    runs = out / "runs"
    done, wall, cpu = measured(
        [TABML, "run-local", "--config", str(config), "--pipeline-root", str(runs), "--registry", str(out / "reg")]
        + ([] if warm else ["--no-warm"])
    )
    (out / "pipeline.out").write_text(done.stdout + done.stderr)
    run_dirs = sorted((p for p in runs.glob("*") if p.is_dir() and not p.name.startswith(".")), key=os.path.getmtime)
    timings = {}
    if run_dirs and (run_dirs[-1] / "logs" / "steps.json").exists():
        timings = json.loads((run_dirs[-1] / "logs" / "steps.json").read_text())
    steps = timings.get("steps", {})
    for step, seconds in steps.items():
        cpu_s = timings.get("cpu_seconds", {}).get(step)
        emit(bench="pipeline", step=step, wall_s=round(seconds, 2), cpu_s=None if cpu_s is None else round(cpu_s, 2))
    if done.returncode:
        emit(bench="pipeline", error=f"exit {done.returncode}; see {out / 'pipeline.out'}")
    lines = len((done.stdout + done.stderr).splitlines())
    # How many steps ran forked from the warm zygote (pipelines/warm_steps.py); None: --no-warm.
    warm_steps = timings.get("warm_steps")
    return {"wall_s": wall, "cpu_s": cpu, "steps": steps, "lines_printed": lines, "load": [before, load()]} | {
        "warm": warm_steps
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--out", type=Path, default=None, help="Kept; default: a temporary directory.")
    parser.add_argument("--skip", action="append", default=[], choices=["imports", "floor", "pipeline"])
    parser.add_argument("--no-warm", action="store_true", help="Run the pipeline's steps as fresh subprocesses.")
    parser.add_argument("--floor-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_here:
        run_floor(args.config.resolve(), args.out)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="local-floor-"))
    out.mkdir(parents=True, exist_ok=True)
    emit(bench="machine", cores=os.cpu_count(), load=load(), out=str(out))
    if "imports" not in args.skip:
        import_times(args.config.resolve())
    results = {}
    if "floor" not in args.skip:
        results["floor"] = floor(args.config.resolve(), out)
    if "pipeline" not in args.skip:
        results["pipeline"] = pipeline(args.config.resolve(), out, warm=not args.no_warm)
    summary = {f"{k}_{m}": round(v[m], 1) for k, v in results.items() for m in ("wall_s", "cpu_s")}
    summary |= {f"{k}_load": v["load"] for k, v in results.items()}
    if "pipeline" in results:
        summary["pipeline_lines_printed"] = results["pipeline"]["lines_printed"]
        summary["pipeline_warm"] = results["pipeline"]["warm"]
    if len(results) == 2:
        f, p = results["floor"], results["pipeline"]
        summary["ratio_wall"] = round(p["wall_s"] / f["wall_s"], 2)
        summary["ratio_cpu"] = round(p["cpu_s"] / f["cpu_s"], 2)
        summary["floor_import_s"] = f["import_s"]
    emit(bench="summary", **summary)


if __name__ == "__main__":
    main()
