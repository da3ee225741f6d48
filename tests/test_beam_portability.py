"""The Beam steps on other runners give what the in-process DirectRunner gives: DirectRunner
in two worker processes, PortableRunner with an external SDK worker pool (the worker path of
Dataflow Runner v2 and of Flink on Kubernetes), and FlinkRunner on an embedded Flink.

Each run is a child process with a time limit, killed with its workers when it passes it, so
a runner that hangs fails the test instead of blocking CI. The baseline runs here, in process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from components.common.readers import load_split_stats
from contracts.artifacts import EXAMPLE_GEN_SUMMARY
from tests.conftest import REPO

VENV_BIN = Path(sys.executable).parent
FLINK_JOB_SERVER = REPO / ".cache" / "beam" / "beam-runners-flink-1.19-job-server-2.62.0.jar"
IN_PROCESS = ("--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1")
MULTI_PROCESSING = ("--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2")
RUN_TIMEOUT_S = 540

# The child: one executor run from a JSON spec; prints the step's own seconds.
_CHILD = """
import importlib, json, sys, time
spec = json.load(open(sys.argv[1]))
from contracts.config import PipelineConfig
executor = importlib.import_module(f"components.{spec['step']}.executor")
config = PipelineConfig.model_validate_json(spec["config"])
inputs = executor.Inputs(**spec["inputs"], beam_args=tuple(spec["beam_args"]))
start = time.monotonic()
executor.run(config, inputs, executor.Outputs(**spec["outputs"]))
print("STEP_SECONDS", time.monotonic() - start)
"""


def _env() -> dict[str, str]:
    # Worker pools start the first `python` on PATH: the venv's, or the job waits for ever.
    return os.environ | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def _kill_group(proc: subprocess.Popen) -> None:
    """Ends proc and what it started (it leads its own session: SDK workers, a job server)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):  # workers left behind by a finished child
        os.killpg(proc.pid, signal.SIGKILL)


def run_step(step: str, config, inputs: dict, outputs: dict, beam_args, log_dir: Path, variant: str) -> float:
    """Runs one executor in a child process under beam_args; returns and prints its wall time."""
    log_dir.mkdir(parents=True, exist_ok=True)
    spec_file, log_file = log_dir / "spec.json", log_dir / "run.log"
    spec = {"step": step, "config": config.model_dump_json(), "inputs": inputs, "outputs": outputs}
    spec_file.write_text(json.dumps(spec | {"beam_args": list(beam_args)}))
    start = time.monotonic()
    with open(log_file, "w") as log:
        proc = _spawn([sys.executable, "-c", _CHILD, str(spec_file)], log)
        try:
            proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill_group(proc)
    wall = time.monotonic() - start
    text = log_file.read_text()
    if proc.returncode != 0 or "STEP_SECONDS" not in text:
        pytest.fail(f"{step} on {variant} failed or hung (rc {proc.returncode}, {wall:.0f} s):\n{text[-6000:]}")
    step_s = float(text.rsplit("STEP_SECONDS", 1)[1].split()[0])
    print(json.dumps({"step": step, "variant": variant, "wall_s": round(wall, 1), "step_s": round(step_s, 1)}))
    return wall


def _spawn(args: list[str], log) -> subprocess.Popen:
    """A child in its own process group (killed whole by _kill_group), the venv first on PATH."""
    return subprocess.Popen(args, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """Beam's SDK worker pool, as the sidecar of a Flink TaskManager or a Dataflow VM runs it."""
    port = _free_port()
    log = open(tmp_path_factory.mktemp("worker_pool") / "pool.log", "w")
    proc = _spawn([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"], log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1):
                break
            assert proc.poll() is None and time.monotonic() < deadline, f"worker pool did not start: {log.name}"
            time.sleep(0.5)
        yield f"localhost:{port}"
    finally:
        _kill_group(proc)
        log.close()


def _runner_args(request, variant: str) -> tuple[str, ...]:
    if variant == "multi_processing":
        return MULTI_PROCESSING
    if variant == "portable":
        pool = request.getfixturevalue("worker_pool")
        return (
            "--runner=PortableRunner",
            "--job_endpoint=embed",
            "--environment_type=EXTERNAL",
            f"--environment_config={pool}",
        )
    if variant == "flink":
        if not FLINK_JOB_SERVER.exists():
            jar = FLINK_JOB_SERVER.relative_to(REPO)
            pytest.skip(f"no Flink job server at {jar}: `make setup-flink` fetches it (Maven and a JDK)")
        # An embedded Flink with its SDK harnesses in the worker pool, as on Kubernetes
        # (LOOPBACK, the harness in the submitting process, gives the same outputs too).
        return (
            "--runner=FlinkRunner",
            f"--flink_job_server_jar={FLINK_JOB_SERVER}",
            "--flink_master=[local]",
            "--parallelism=2",
            "--environment_type=EXTERNAL",
            f"--environment_config={request.getfixturevalue('worker_pool')}",
        )
    raise ValueError(variant)


def _variants(cheap: tuple[str, ...]) -> list:
    return [
        pytest.param(v, id=v, marks=() if v in cheap else pytest.mark.slow)
        for v in ("multi_processing", "portable", "flink")
    ]


# --- what "equal" means for each output ----------------------------------------------------


def stats_by_feature(stats_root: str, splits) -> dict:
    """Per split: the dataset's counts and each feature's statistics as plain data, keyed by path."""
    out = {}
    for split in splits:
        (dataset,) = load_split_stats(stats_root, split).datasets
        features = {"/".join(f.path.step) or f.name: json_format.MessageToDict(f) for f in dataset.features}
        out[split] = {"num_examples": dataset.num_examples, "features": features}
    return out


def assert_same(got, expected, where: str, rel: float) -> None:
    """Equal, floats to a relative tolerance: a runner sums over other bundles, in another
    order, and the last digits differ (two in-process runs differ so too)."""
    if isinstance(expected, float) and isinstance(got, float):
        same = math.isclose(got, expected, rel_tol=rel, abs_tol=rel) or (math.isnan(got) and math.isnan(expected))
        assert same, f"{where}: {got} != {expected}"
    elif isinstance(expected, dict) and isinstance(got, dict):
        assert got.keys() == expected.keys(), f"{where}: keys {sorted(got)} != {sorted(expected)}"
        for key, value in expected.items():
            assert_same(got[key], value, f"{where}/{key}", rel)
    elif isinstance(expected, list) and isinstance(got, list):
        assert len(got) == len(expected), f"{where}: {len(got)} items != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same(g, e, f"{where}[{i}]", rel)
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


def rows(root: Path, split: str) -> list[dict]:
    """The tf.Examples of one split as plain rows, in an order that float noise cannot change
    between rows that differ in an integer or a string."""
    files = sorted(tf.io.gfile.glob(str(root / f"Split-{split}" / "*.gz")))
    assert files, f"no examples under {root}/Split-{split}"
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        features = tf.train.Example.FromString(record.numpy()).features.feature
        out.append({name: list(getattr(f, f.WhichOneof("kind")).value) for name, f in sorted(features.items())})

    def key(row):  # (name, values) pairs: a row may lack a feature another row has
        exact = [(k, v) for k, v in row.items() if not v or not isinstance(v[0], float)]
        return exact, [(k, v) for k, v in row.items() if v and isinstance(v[0], float)]

    return sorted(out, key=key)


def analyzer_outputs(transform_graph: Path) -> dict:
    """What tf.Transform's analyzers computed: the vocabulary files, and the numbers the
    transform graph holds as constants (means, variances, bucket boundaries, vocabulary sizes)."""
    saved = saved_model_pb2.SavedModel.FromString((transform_graph / "transform_fn" / "saved_model.pb").read_bytes())
    constants = {
        node.name: tf.make_ndarray(node.attr["value"].tensor).tolist()
        for node in saved.meta_graphs[0].graph_def.node
        if node.op == "Const" and node.attr["dtype"].type != types_pb2.DT_STRING
    }
    vocabularies = {}
    for path in sorted((transform_graph / "transform_fn" / "assets").iterdir()):
        data = path.read_bytes()
        vocabularies[path.name] = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()
    return {"constants": constants, "vocabularies": vocabularies}


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stats_in_process(chain, tmp_path_factory):
    from components.statistics_gen import executor as statistics_gen

    out = tmp_path_factory.mktemp("stats_in_process")
    statistics_gen.run(
        chain.config,
        statistics_gen.Inputs(examples=str(chain.examples), beam_args=IN_PROCESS),
        statistics_gen.Outputs(statistics=str(out)),
    )
    return stats_by_feature(str(out), chain.config.split.names)


@pytest.mark.parametrize("variant", _variants(cheap=("portable",)))
def test_statistics_gen_on_other_runners_equals_in_process(variant, request, chain, stats_in_process, tmp_path):
    args = _runner_args(request, variant)
    run_step(
        "statistics_gen",
        chain.config,
        {"examples": str(chain.examples)},
        {"statistics": str(tmp_path / "statistics")},
        args,
        tmp_path / "logs",
        variant,
    )
    got = stats_by_feature(str(tmp_path / "statistics"), chain.config.split.names)
    assert all(split["num_examples"] > 0 for split in stats_in_process.values())
    # Counts, histograms, quantiles, top values: exact; means and deviations to 1e-12 (they
    # differ in the 15th digit, between two in-process runs too).
    assert_same(got, stats_in_process, variant, rel=1e-12)


@pytest.fixture(scope="module")
def transform_in_process(chain, tmp_path_factory):
    from components.transform import executor as transform

    out = tmp_path_factory.mktemp("transform_in_process")
    transform.run(
        chain.config,
        transform.Inputs(examples=str(chain.examples), schema=str(chain.schema), beam_args=IN_PROCESS),
        transform.Outputs(transform_graph=str(out / "graph"), transformed_examples=str(out / "examples")),
    )
    return out


@pytest.mark.parametrize("variant", _variants(cheap=()))
def test_transform_on_other_runners_equals_in_process(variant, request, chain, transform_in_process, tmp_path):
    args = _runner_args(request, variant)
    run_step(
        "transform",
        chain.config,
        {"examples": str(chain.examples), "schema": str(chain.schema)},
        {"transform_graph": str(tmp_path / "graph"), "transformed_examples": str(tmp_path / "examples")},
        args,
        tmp_path / "logs",
        variant,
    )
    expected = analyzer_outputs(transform_in_process / "graph")
    assert expected["constants"] and expected["vocabularies"]
    # Float32 outputs of sums taken in another order may differ in the last place (1e-7).
    assert_same(analyzer_outputs(tmp_path / "graph"), expected, f"{variant} analyzers", rel=1e-6)
    for split in chain.config.split.names:
        want = rows(transform_in_process / "examples", split)
        assert len(want) > 0
        assert_same(rows(tmp_path / "examples", split), want, f"{variant} transformed {split}", rel=1e-6)


@pytest.fixture(scope="module")
def evaluation_in_process(chain, tmp_path_factory):
    from components.evaluator import executor as evaluator

    out = tmp_path_factory.mktemp("evaluation_in_process")
    inputs = _evaluator_inputs(chain, out)
    evaluator.run(chain.config, evaluator.Inputs(**inputs, beam_args=IN_PROCESS), _evaluator_outputs(out))
    return _evaluation(chain, out)


def _evaluator_inputs(chain, out: Path) -> dict:
    # An empty registry: no baseline, the same judgement whatever other tests pushed.
    return {
        "examples": str(chain.examples),
        "schema": str(chain.schema),
        "model": str(chain.model),
        "model_registry": str(out / "empty_registry"),
    }


def _evaluator_outputs(out: Path):
    from components.evaluator import executor as evaluator

    return evaluator.Outputs(evaluation=str(out / "evaluation"), blessing=str(out / "blessing"))


def _evaluation(chain, out: Path) -> dict:
    from components.evaluator.tfma_config import load_metrics
    from contracts.artifacts import is_blessed

    label = json.loads((chain.examples / EXAMPLE_GEN_SUMMARY).read_text())["label"]
    metrics = load_metrics(str(out / "evaluation"), label.get("classes", []))
    blessed = is_blessed(str(out / "blessing"))
    return {"by_slice": metrics.by_slice, "suppressed": sorted(metrics.suppressed), "blessed": blessed}


@pytest.mark.parametrize("variant", _variants(cheap=()))
def test_evaluator_on_other_runners_equals_in_process(variant, request, chain, tmp_path):
    expected = request.getfixturevalue("evaluation_in_process")
    args = _runner_args(request, variant)
    outputs = dataclasses.asdict(_evaluator_outputs(tmp_path))
    run_step("evaluator", chain.config, _evaluator_inputs(chain, tmp_path), outputs, args, tmp_path / "logs", variant)
    got = _evaluation(chain, tmp_path)
    assert expected["by_slice"]["Overall"]
    assert_same(got, expected, variant, rel=1e-6)


@pytest.fixture(scope="module")
def examples_in_process(chain, tmp_path_factory):
    from components.example_gen import executor as example_gen

    out = tmp_path_factory.mktemp("examples_in_process")
    example_gen.run(chain.config, example_gen.Inputs(beam_args=IN_PROCESS), example_gen.Outputs(examples=str(out)))
    return out


def _summary(examples: Path) -> dict:
    summary = json.loads((examples / EXAMPLE_GEN_SUMMARY).read_text())
    summary.pop("outputs")  # the files written, under the step's own output
    return summary


@pytest.mark.parametrize("variant", _variants(cheap=()))
def test_example_gen_on_other_runners_equals_in_process(variant, request, chain, tmp_path):
    expected = request.getfixturevalue("examples_in_process")
    args = _runner_args(request, variant)
    out = tmp_path / "examples"
    run_step("example_gen", chain.config, {}, {"examples": str(out)}, args, tmp_path / "logs", variant)
    assert _summary(out) == _summary(expected)
    for split in chain.config.split.names:
        want = rows(expected, split)
        assert len(want) > 0 and rows(out, split) == want, f"{split} examples differ on {variant}"
