"""Serving benchmark (not a test): latency and throughput of the local predictor over HTTP,
side by side with an in-process call of the SavedModel's serving_raw on the same rows.

    serving/.venv/bin/python bench/serving_bench.py                        # binary: the taxi fixture
    serving/.venv/bin/python bench/serving_bench.py --example penguins     # multiclass
    serving/.venv/bin/python bench/serving_bench.py --example auto_mpg     # regression
    serving/.venv/bin/python bench/serving_bench.py --example chicago_taxi \
        --model_dir artifacts/registry/chicago_taxi_big_tipper              # another model, same rows

Starts `python -m predictor` on 127.0.0.1 (a free port, no gRPC; request log to a temp dir
unless --no_request_log), then, for single-row and batched requests, sends --requests
sequential requests from one keep-alive client (v1 and v2), and times the same batches
through serving_raw in this process. Prints p50/p99 latency (ms) and throughput (rows/s).
Figures only: nothing here fails on time. Rows: tests/serving/fixtures/<example>/rows.json
(61 to 64 rows of the example's data); --batch is capped at their number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "serving"))
from predictor.model_dir import resolve  # noqa: E402
from predictor.tasks import head_for  # noqa: E402

FIXTURES = REPO / "tests" / "serving" / "fixtures"
EXAMPLES = sorted(p.name for p in FIXTURES.iterdir() if (p / "rows.json").exists())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def v2_body(instances):
    kinds = {int: "INT64", float: "FP32", str: "BYTES"}
    return {
        "inputs": [
            {"name": n, "shape": [len(instances)], "datatype": kinds[type(v)], "data": [i[n] for i in instances]}
            for n, v in instances[0].items()
        ]
    }


def numbers(predictions: list) -> np.ndarray:
    """The numbers of a v1 `predictions` list, whatever the task (multiclass: the probabilities)."""
    flat = [list(p["probabilities"].values()) if isinstance(p, dict) else [p] for p in predictions]
    return np.asarray(flat, dtype=np.float64).reshape(-1)


def stats(name: str, latencies: list[float], rows_per_call: int) -> dict:
    lat = np.asarray(latencies) * 1000
    return {
        "name": name,
        "batch": rows_per_call,
        "calls": len(lat),
        "p50_ms": np.percentile(lat, 50),
        "p99_ms": np.percentile(lat, 99),
        "calls_s": len(lat) / (lat.sum() / 1000),
        "rows_s": len(lat) * rows_per_call / (lat.sum() / 1000),
    }


def time_calls(fn, batches, n: int, warmup: int = 5) -> list[float]:
    for i in range(warmup):
        fn(batches[i % len(batches)])
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(batches[i % len(batches)])
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="chicago_taxi", choices=EXAMPLES, help="the fixture (rows, model)")
    parser.add_argument("--model_dir", help="default: the example's fixture model")
    parser.add_argument("--requests", type=int, default=300, help="timed calls per case")
    parser.add_argument("--batch", type=int, default=64, help="rows per batched call")
    parser.add_argument("--no_request_log", action="store_true")
    args = parser.parse_args()
    args.model_dir = args.model_dir or str(FIXTURES / args.example / "model")

    instances = json.loads((FIXTURES / args.example / "rows.json").read_text())["instances"]
    batch = instances[: args.batch]
    singles = [[i] for i in instances]

    # in-process: the SavedModel's serving_raw on the same rows
    resolved = resolve(args.model_dir)
    loaded = tf.saved_model.load(resolved.path)
    fn = loaded.signatures["serving_raw"]
    specs = fn.structured_input_signature[1]
    head = head_for(resolved.metadata, fn.structured_outputs)

    def direct(rows):
        outputs = fn(**{n: tf.constant([r[n] for r in rows], dtype=s.dtype) for n, s in specs.items()})
        return {name: outputs[name].numpy() for name in head.names}

    results = [
        stats("in-process serving_raw", time_calls(direct, singles, args.requests), 1),
        stats("in-process serving_raw", time_calls(direct, [batch], args.requests), len(batch)),
    ]

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="serving-bench-")
    cmd = [
        sys.executable,
        "-m",
        "predictor",
        "--model_dir",
        args.model_dir,
        "--host",
        "127.0.0.1",
        "--http_port",
        str(port),
        "--enable_grpc",
        "false",
        "--enable_latency_logging",
        "false",
        "--max_batch_size",
        str(max(1024, len(batch))),
    ]
    if not args.no_request_log:
        cmd += ["--request_log", os.path.join(tmp, "requests")]
    log = open(os.path.join(tmp, "server.log"), "wb")
    server = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "serving")}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server not ready: see {tmp}/server.log")
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        name = httpx.get(f"{url}/v1/models").json()["models"][0]
        with httpx.Client(base_url=url, timeout=60) as c:

            def v1(rows):
                r = c.post(f"/v1/models/{name}:predict", json={"instances": rows})
                assert r.status_code == 200, r.text

            def v2(rows):
                r = c.post(f"/v2/models/{name}/infer", json=v2_body(rows))
                assert r.status_code == 200, r.text

            # the HTTP answers are the in-process ones
            got = c.post(f"/v1/models/{name}:predict", json={"instances": batch}).json()["predictions"]
            want = head.v1(direct(batch))
            max_diff = float(np.abs(numbers(got) - numbers(want)).max())
            if head.task == "multiclass":
                assert [p["class"] for p in got] == [p["class"] for p in want]
            results += [
                stats("HTTP v1 :predict", time_calls(v1, singles, args.requests), 1),
                stats("HTTP v1 :predict", time_calls(v1, [batch], args.requests), len(batch)),
                stats("HTTP v2 /infer", time_calls(v2, singles, args.requests), 1),
                stats("HTTP v2 /infer", time_calls(v2, [batch], args.requests), len(batch)),
            ]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    print(
        f"model {resolved.path} (version {resolved.version}, {head.task}); "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; tensorflow {tf.__version__}; one sequential keep-alive client; "
        f"request log {'off' if args.no_request_log else 'on'}; max |HTTP - in-process| = {max_diff:.1e}"
    )
    print(f"{'case':<26}{'rows/call':>10}{'calls':>7}{'p50 ms':>9}{'p99 ms':>9}{'calls/s':>9}{'rows/s':>10}")
    for r in results:
        print(
            f"{r['name']:<26}{r['batch']:>10}{r['calls']:>7}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['calls_s']:>9.0f}{r['rows_s']:>10.0f}"
        )


if __name__ == "__main__":
    main()
