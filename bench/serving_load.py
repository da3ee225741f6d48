"""Serving load benchmark (not a test): an open-loop, fixed-rate client against the local
predictor on loopback, beside the in-process SavedModel's rows/s.

    serving/.venv/bin/python bench/serving_load.py                          # binary: the taxi fixture
    serving/.venv/bin/python bench/serving_load.py --example penguins --duration 5
    serving/.venv/bin/python bench/serving_load.py --server_args "--workers 2"
    serving/.venv/bin/python bench/serving_load.py --url http://127.0.0.1:8080   # a running server

Open loop: request i is due at start + i/rate whatever happened to the ones before it (a slow
server does not slow the client down, as real users do not wait for each other), and its
latency runs from that due time, so queueing in the client's pool or the server shows. The
client is a minimal HTTP/1.1 one on asyncio streams (keep-alive connections, a new one whenever
none is idle, up to --max_connections) so that it costs the shared CPUs little.

Points (each --duration seconds, then at most --drain seconds for the answers still out):
  single   one-row v1 :predict at each of --rates requests/s (default 100, 200, 400)
  batch    --batch-row v1 :predict at each of --batch_rates requests/s (default 64 rows at 100,
           200, 400; rows/s = rate x batch)
  overload --overload requests/s of single rows, then `recovery`: the first --rates rate for
           --duration/2 s straight after, to show whether the server recovers at once
and, first, `in-process`: serving_raw on the same batch in this process (rows/s, one caller
calling it by keyword; beside it the CPU per call as the predictor calls it: model.py's
FlatSignature on the batch's columns).

Prints one JSON line per point (stdout) and a table (stderr): achieved rate, p50/p95/p99/max ms
of the answered requests, answers by status code, client errors (timeouts, refused), server
CPU (% of one core, and CPU ms per accepted answer, /proc) and the server's log lines per
request. Then `in-process (end)`, the same in-process call again (the machine's load may have
changed meanwhile), and `batch target`: the best batched rows/s against both in-process
figures (the issue's target: >= 80%), the server's CPU per batch against the in-process CPU per
call, what those CPU figures predict on otherwise idle cores (all cores on server and client,
against one core in-process: an estimate, for a machine shared with other work) and the
server's resident memory. Figures only: nothing here fails on time. TF Serving (KServe's TF
Serving runtime) is not installable here (no Docker engine, no tensorflow-model-server
package), so it is not measured: one JSON line says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "serving" / "fixtures"
EXAMPLES = sorted(p.name for p in FIXTURES.iterdir() if (p / "rows.json").exists())
TF_SERVING = (
    "not measured: TF Serving (tensorflow/serving, KServe's TF Serving runtime) is not installable "
    "here (no Docker engine, no tensorflow-model-server package)"
)


# -- a small HTTP/1.1 client --------------------------------------------------------------------
class Pool:
    """Keep-alive connections to one host; a new one when none is idle, at most `limit`."""

    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)
        self.opened = 0

    async def request(self, raw: bytes) -> int:
        """Sends a whole encoded request, reads the answer; its status code."""
        async with self.slots:
            while self.idle:
                try:  # the server may have closed an idle one (uvicorn: after 5 s): retry anew
                    return await self._exchange(*self.idle.pop(), raw)
                except (asyncio.IncompleteReadError, ConnectionResetError) as e:
                    if getattr(e, "partial", b""):
                        raise
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
            return await self._exchange(reader, writer, raw)

    async def _exchange(self, reader, writer, raw: bytes) -> int:
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            await reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            writer.close()
            raise
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def encode(host: str, path: str, body: dict) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def open_loop(pool: Pool, bodies: list[bytes], rate: float, duration: float, timeout: float, drain: float):
    """Sends bodies (round robin) at `rate`/s for `duration` s; latencies from each due time."""
    n = int(rate * duration)
    latencies: list[tuple[float, int]] = []  # (seconds from due, status)
    codes: Counter = Counter()
    errors: Counter = Counter()
    late = 0.0

    async def one(due: float, raw: bytes) -> None:
        try:
            code = await asyncio.wait_for(pool.request(raw), timeout - max(0.0, time.perf_counter() - due))
        except TimeoutError:
            errors["timeout"] += 1
            return
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            errors[type(e).__name__] += 1
            return
        latencies.append((time.perf_counter() - due, code))
        codes[code] += 1

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        late = max(late, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(due, bodies[i % len(bodies)])))
    sent_s = time.perf_counter() - start
    done, pending = await asyncio.wait(tasks, timeout=drain) if tasks else (set(), set())
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - start
    return {
        "sent": n,
        "send_s": round(sent_s, 2),
        "client_max_late_ms": round(late * 1000, 1),
        "answered": len(latencies),
        "unanswered": len(pending),
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "client_errors": dict(errors),
        "latencies": latencies,
        "wall_s": wall,
    }


# -- the server ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU seconds of the processes and their children that have exited."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / tick
    return total


def server_pids(pid: int) -> list[int]:
    """The server and its worker processes (uvicorn's multi-process mode)."""
    pids, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                pids += [int(k) for k in kids]
                todo += [int(k) for k in kids]
        except OSError:
            pass
    return pids


def start_server(args, tmp: str) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        args.server_module,
        "--model_dir",
        args.model_dir,
        "--host",
        "127.0.0.1",
        "--http_port",
        str(port),
        "--enable_grpc",
        "false",
        "--max_batch_size",
        str(max(1024, args.batch)),
    ]
    if args.request_log:
        cmd += ["--request_log", os.path.join(tmp, "requests")]
    cmd += shlex.split(args.server_args)
    log_path = Path(tmp) / "server.log"
    log = open(log_path, "wb")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "serving"), os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"server not ready: see {log_path}\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return server, url, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def in_process(model_dir: str, batch: list[dict], seconds: float) -> dict:
    """serving_raw on the batch, called back to back in this process for `seconds`."""
    import tensorflow as tf

    sys.path.insert(0, str(REPO / "serving"))
    from predictor.model_dir import resolve

    resolved = resolve(model_dir)
    loaded = tf.saved_model.load(resolved.path)
    fn = loaded.signatures["serving_raw"]
    specs = fn.structured_input_signature[1]

    def call():
        outputs = fn(**{n: tf.constant([r[n] for r in batch], dtype=s.dtype) for n, s in specs.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    for _ in range(20):
        call()
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        call()
        calls += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "case": "in-process serving_raw",
        "batch": len(batch),
        "calls_s": round(calls / elapsed, 1),
        "rows_s": round(calls * len(batch) / elapsed),
        "cpu_ms_per_call": round(1000 * cpu / calls, 3),
        # the same call as the server makes it (predictor.model.infer: the signature's flat
        # call on the batch's columns), beside the keyword call above, the reference
        "server_call_cpu_ms": server_call_cpu_ms(fn, batch, seconds / 2),
        "model": resolved.path,
        "tensorflow": tf.__version__,
        "load": round(os.getloadavg()[0], 2),
    }


def server_call_cpu_ms(fn, batch: list[dict], seconds: float) -> float | None:
    """CPU ms per call of the model as the predictor calls it (None: it would call it by keyword)."""
    from predictor import features as F
    from predictor.model import FlatSignature

    specs = F.specs_from_signature(fn)
    arrays, _ = F.from_v1(specs, {"instances": batch}, len(batch))
    flat = FlatSignature.checked(fn, specs, tuple(fn.structured_outputs), "in-process")
    if flat is None:
        return None
    for _ in range(20):
        flat(arrays)
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        flat(arrays)
        calls += 1
    return round(1000 * (time.process_time() - cpu) / calls, 3)


def server_rss_mb(pids: list[int]) -> float:
    """Resident memory of the server and its workers, MiB."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(total / 1024, 1)


def batch_target(rows: list[dict], in_process_rows: list[dict], rss_mb: float | None) -> dict:
    """The issue's batch target: the best batched rows/s over HTTP against the in-process rows/s
    (at the start and at the end of the run), and the same by CPU spent per batch."""
    batches = [r for r in rows if r.get("case") == "batch" and r.get("ok_rows_s")]
    out = {"case": "batch target (>= 80% of in-process rows/s)", "server_rss_mb": rss_mb}
    if not batches:
        return out | {"summary": "batch target: no batch point"}
    best = max(batches, key=lambda r: r["ok_rows_s"])
    inp = [r["rows_s"] for r in in_process_rows]
    lean = min((r for r in batches if r["server_cpu_ms_per_ok"]), key=lambda r: r["server_cpu_ms_per_ok"])
    cpu, client = lean["server_cpu_ms_per_ok"], lean.get("client_cpu_ms_per_request") or 0.0
    out |= {
        "best_ok_rows_s": best["ok_rows_s"],
        "at_rate": best["target_rps"],
        "in_process_rows_s": inp,
        "pct_of_in_process": [round(100 * best["ok_rows_s"] / v, 1) for v in inp],
        # in-process CPU per call over the server's CPU per answered batch: the share of the
        # server's CPU that is the model's own work, whatever the machine's load
        "cpu_efficiency_pct": round(100 * in_process_rows[0]["cpu_ms_per_call"] / cpu, 1),
        # what the CPU figures predict on the machine's cores with nothing else running and a
        # server worker per core: every core on server and client (their CPU per batch), against
        # one core in-process (one worker alone cannot use more than about one core)
        "idle_machine_estimate_pct": round(
            100 * (os.cpu_count() or 1) * in_process_rows[0]["cpu_ms_per_call"] / (cpu + client), 1
        ),
    }
    out["summary"] = (
        f"batch target: best {best['ok_rows_s']} rows/s (at {best['target_rps']:g}/s) = "
        f"{' / '.join(f'{p}%' for p in out['pct_of_in_process'])} of in-process {' / '.join(map(str, inp))} "
        f"rows/s (start / end); CPU per batch: server {cpu} ms, client {client} ms, in-process "
        f"{in_process_rows[0]['cpu_ms_per_call']} ms ({out['cpu_efficiency_pct']}%): on {os.cpu_count()} otherwise "
        f"idle cores, with a worker per core, about {out['idle_machine_estimate_pct']}% of in-process; "
        f"server RSS {rss_mb} MiB"
    )
    return out


# -- the run -------------------------------------------------------------------------------------
def summary(case: str, rate: float, batch: int, res: dict, cpu_s: float, log_lines: int | None) -> dict:
    answers = res.pop("latencies")
    lat = np.asarray([t for t, code in answers if 200 <= code < 300]) * 1000  # the accepted ones
    every = np.asarray([t for t, _ in answers]) * 1000
    wall = res.pop("wall_s")
    ok = len(lat)
    pct = {f"p{q}_ms": round(float(np.percentile(lat, q)), 2) if len(lat) else None for q in (50, 95, 99)}
    pct["p99_all_ms"] = round(float(np.percentile(every, 99)), 2) if len(every) else None
    return {
        "case": case,
        "target_rps": rate,
        "batch": batch,
        "achieved_rps": round(res["answered"] / wall, 1),
        "ok_rows_s": round(ok * batch / wall),
        **pct,
        "max_ms": round(float(lat.max()), 2) if len(lat) else None,
        "non_2xx": res["sent"] - ok,
        **res,
        "server_cpu_pct": round(100 * cpu_s / wall),
        # CPU the server spent per accepted answer (its rejections' cost included): unlike the
        # rates, it hardly depends on how much of the machine other work leaves the server
        "server_cpu_ms_per_ok": round(1000 * cpu_s / ok, 3) if ok else None,
        "log_lines_per_request": None if log_lines is None else round(log_lines / max(1, res["sent"]), 2),
        "load": round(os.getloadavg()[0], 2),
    }


async def run_points(args, url: str, server: subprocess.Popen | None, log_path: Path | None, instances, name):
    parts = urlsplit(url)
    host = parts.netloc
    pool = Pool(parts.hostname, parts.port or 80, args.max_connections)
    path = f"/v1/models/{name}:predict"
    singles = [encode(host, path, {"instances": [row]}) for row in instances]
    batches = [encode(host, path, {"instances": (instances * args.batch)[i : i + args.batch]}) for i in range(4)]
    points = [("single", r, 1, singles) for r in args.rates]
    points += [("batch", r, args.batch, batches) for r in args.batch_rates]
    if args.overload:
        points += [("overload", args.overload, 1, singles), ("recovery", args.rates[0], 1, singles)]
    pids = server_pids(server.pid) if server else []
    # warm up: connections, the server's first requests
    await open_loop(pool, singles, 50, 1, args.timeout, args.drain)
    for case, rate, batch, bodies in points:
        duration = args.duration / 2 if case == "recovery" else args.duration
        lines0 = log_path.read_bytes().count(b"\n") if log_path else None
        cpu0, client0 = cpu_seconds(pids), time.process_time()
        res = await open_loop(pool, bodies, rate, duration, args.timeout, args.drain)
        cpu, client = cpu_seconds(pids) - cpu0, time.process_time() - client0
        lines = log_path.read_bytes().count(b"\n") - lines0 if log_path else None
        row = summary(case, rate, batch, res, cpu, lines)
        row["client_cpu_ms_per_request"] = round(1000 * client / max(1, res["sent"]), 3)
        yield row
        if case != "overload":
            await asyncio.sleep(1)  # let the server settle between points (not after overload)
    pool.close()


def table(rows: list[dict]) -> str:
    out = [
        f"{'case':<10}{'rate':>6}{'batch':>6}{'got/s':>8}{'rows/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}"
        f"{'max':>9}{'non2xx':>8}  {'codes':<22}{'cpu%':>5}{'cpu ms/ok':>10}{'log/req':>8}"
    ]
    for r in rows:
        if "target_rps" not in r:
            continue
        f = lambda v: "-" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"  # noqa: E731
        codes = ",".join(f"{k}:{v}" for k, v in r["codes"].items())
        logs = "-" if r["log_lines_per_request"] is None else r["log_lines_per_request"]
        if r["client_errors"] or r["unanswered"]:
            codes += f" err:{sum(r['client_errors'].values()) + r['unanswered']}"
        out.append(
            f"{r['case']:<10}{r['target_rps']:>6}{r['batch']:>6}{r['achieved_rps']:>8.0f}{r['ok_rows_s']:>8}"
            f"{f(r['p50_ms']):>8}{f(r['p95_ms']):>8}{f(r['p99_ms']):>8}{f(r['max_ms']):>9}{r['non_2xx']:>8}"
            f"  {codes:<22}{r['server_cpu_pct']:>5}{f(r['server_cpu_ms_per_ok']):>10}{logs:>8}"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    floats = lambda s: [float(v) for v in s.split(",") if v]  # noqa: E731
    parser.add_argument("--example", default="chicago_taxi", choices=EXAMPLES, help="the fixture (rows, model)")
    parser.add_argument("--model_dir", help="default: the example's fixture model")
    parser.add_argument("--url", help="a running predictor (then none is started)")
    parser.add_argument("--server_args", default="", help='extra tabml-serve flags, e.g. "--workers 2"')
    parser.add_argument("--server_module", default="predictor", help="the module `python -m` runs as the server")
    parser.add_argument("--no_request_log", dest="request_log", action="store_false")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    parser.add_argument("--rates", type=floats, default=[100, 200, 400], help="single-row requests/s")
    parser.add_argument("--batch", type=int, default=64, help="rows per batched request")
    parser.add_argument("--batch_rates", type=floats, default=[100, 200, 400], help="batched requests/s")
    parser.add_argument("--overload", type=float, default=1000, help="single-row requests/s (0: skip)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, from its due time")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for answers after a point")
    parser.add_argument("--max_connections", type=int, default=512)
    parser.add_argument("--in_process_s", type=float, default=3.0, help="seconds of in-process calls")
    args = parser.parse_args()
    args.model_dir = args.model_dir or str(FIXTURES / args.example / "model")
    instances = json.loads((FIXTURES / args.example / "rows.json").read_text())["instances"]
    batch = (instances * args.batch)[: args.batch]

    rows = [in_process(args.model_dir, batch, args.in_process_s)]
    rows[0]["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    print(json.dumps(rows[0]), flush=True)
    rows.append({"case": "TF Serving", "result": TF_SERVING})
    print(json.dumps(rows[-1]), flush=True)

    tmp = tempfile.mkdtemp(prefix="serving-load-")
    server, log_path = None, None
    url = args.url
    if not url:
        server, url, log_path = start_server(args, tmp)
    try:
        import httpx

        name = httpx.get(f"{url}/v1/models").json()["models"][0]

        async def go():
            async for row in run_points(args, url, server, log_path, instances, name):
                row["request_log"] = args.request_log if server else None
                rows.append(row)
                print(json.dumps(row), flush=True)

        try:
            from uvloop import run
        except ImportError:
            run = asyncio.run
        run(go())
        rss_mb = server_rss_mb(server_pids(server.pid)) if server else None
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    # again, now the server is gone: the machine's load may have changed during the points
    end = in_process(args.model_dir, batch, args.in_process_s) | {"case": "in-process serving_raw (end)"}
    print(json.dumps(end), flush=True)
    target = batch_target(rows, [rows[0], end], rss_mb)
    print(json.dumps(target), flush=True)
    inp = rows[0]
    print(
        f"\nin-process serving_raw: {inp['rows_s']} rows/s at batch {inp['batch']} ({inp['calls_s']} calls/s, "
        f"{inp['cpu_ms_per_call']} CPU ms a call; called as the server calls it: {inp['server_call_cpu_ms']} ms), "
        f"{end['rows_s']} rows/s at the end; {inp['machine']}; "
        f"server log {log_path or '-'}\n{table(rows)}\n{target['summary']}\nTF Serving: {TF_SERVING}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
