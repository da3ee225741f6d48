"""A KServe stand-in on one machine, for `make loop`: the Kubernetes API stand-in (rollout.standin)
holding the InferenceService the Pusher rolls out to, KServe's Serverless controller played by
`serverless_controller`, one predictor process (serving/.venv's tabml-serve) per served version,
and a client that routes each request as Knative would: canaryTrafficPercent of them to the
newest revision, the rest to the one before.

Every predictor logs to the same request-log directory (one file per process), which is what
the monitoring pipeline and the canary analysis read.
"""

from __future__ import annotations

import copy
import random
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests
import yaml

from rollout import ANNOTATION_PREVIOUS_URI, storage_uri_of
from rollout.standin import FakeKubernetes, serverless_controller

SERVER = Path("serving/.venv/bin/tabml-serve")
TEMPLATE = Path("serving/manifests/base/inferenceservice-custom.yaml")
READY_TIMEOUT_S = 120.0


class LocalServingError(RuntimeError):
    """The local stand-in could not serve: says which piece and where its log is."""


def serverless_template(path: Path) -> Path:
    """The project's InferenceService manifest, switched to Serverless (what
    serving/manifests/components/serverless does), where a canary splits traffic."""
    isvc = yaml.safe_load(TEMPLATE.read_text())
    isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Serverless"
    path.write_text(yaml.safe_dump(isvc, sort_keys=False))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Predictor:
    storage_uri: str
    url: str
    process: subprocess.Popen
    log: Path


@dataclass
class ReplayResult:
    requests: int = 0
    failed: int = 0
    by_storage_uri: dict[str, int] = field(default_factory=dict)
    labels: list[dict] = field(default_factory=list)  # request_id, label: the ground truth "arriving later"
    seconds: float = 0.0


class LocalKServe:
    """Use as a context manager: starts the API stand-in, stops every predictor on exit."""

    def __init__(self, workdir: Path, namespace: str, name: str, model_name: str):
        self.workdir, self.namespace, self.name, self.model_name = workdir, namespace, name, model_name
        self.request_log = workdir / "request_log"
        self.kube = FakeKubernetes()
        serverless_controller(self.kube)
        self.predictors: dict[str, Predictor] = {}

    def __enter__(self) -> LocalKServe:
        if not SERVER.exists():
            raise LocalServingError(f"{SERVER} is missing: run `make setup-serving`")
        self.kube.__enter__()
        self.kubeconfig = self.kube.kubeconfig(self.workdir / "kubeconfig.json")
        self.request_log.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        for predictor in self.predictors.values():
            predictor.process.terminate()
        for predictor in self.predictors.values():
            try:
                predictor.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                predictor.process.kill()
        self.kube.__exit__(*exc)

    # -- what the InferenceService says ---------------------------------------------------------
    def isvc(self) -> dict | None:
        obj = self.kube.objects.get((self.namespace, self.name))
        return copy.deepcopy(obj) if obj else None

    def traffic(self) -> list[tuple[str, int]]:
        """(storage URI, percent) as Knative splits it: the canary share to the newest revision,
        the rest to the previous one; no canary share: all to the newest."""
        isvc = self.isvc()
        if isvc is None:
            raise LocalServingError(f"no InferenceService {self.namespace}/{self.name}: nothing was pushed to it")
        newest = storage_uri_of(isvc)
        percent = isvc["spec"]["predictor"].get("canaryTrafficPercent")
        previous = (isvc["metadata"].get("annotations") or {}).get(ANNOTATION_PREVIOUS_URI, "")
        if percent is None or percent >= 100 or not previous:
            return [(newest, 100)]
        if percent <= 0:
            return [(previous, 100)]
        return [(newest, int(percent)), (previous, 100 - int(percent))]

    # -- predictors ------------------------------------------------------------------------------
    def _start(self, storage_uri: str) -> Predictor:
        port = _free_port()
        log = self.workdir / "serving" / f"predictor-{Path(storage_uri).name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        args = [str(SERVER), "--model_dir", storage_uri, "--model_name", self.model_name, "--host", "127.0.0.1"]
        args += ["--http_port", str(port), "--enable_grpc", "false", "--request_log", str(self.request_log)]
        with open(log, "ab") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        predictor = Predictor(storage_uri, f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalServingError(f"the predictor for {storage_uri} exited ({process.returncode}): see {log}")
            try:
                if requests.get(f"{predictor.url}/v2/health/ready", timeout=2).status_code == 200:
                    return predictor
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        process.kill()
        raise LocalServingError(f"the predictor for {storage_uri} was not ready in {READY_TIMEOUT_S:g}s: see {log}")

    def predictor(self, storage_uri: str) -> Predictor:
        if storage_uri not in self.predictors:
            self.predictors[storage_uri] = self._start(storage_uri)
        return self.predictors[storage_uri]

    # -- traffic -----------------------------------------------------------------------------------
    def replay(self, rows: pd.DataFrame, label: str, seed: int) -> ReplayResult:
        """Sends each row as its own v1 request (the label column is kept back as the ground truth
        that arrives later), routed by the InferenceService's traffic split."""
        split = self.traffic()
        targets = [(self.predictor(uri), percent) for uri, percent in split]
        rng = random.Random(seed)
        result = ReplayResult(by_storage_uri={uri: 0 for uri, _ in split})
        session = requests.Session()
        features = [c for c in rows.columns if c != label]
        started = time.monotonic()
        for record in rows.to_dict("records"):
            draw, predictor = rng.uniform(0, 100), targets[-1][0]
            for candidate, percent in targets:
                if draw < percent:
                    predictor = candidate
                    break
                draw -= percent
            request_id = uuid.UUID(int=rng.getrandbits(128)).hex
            instance = {name: record[name] for name in features}
            reply = session.post(
                f"{predictor.url}/v1/models/{self.model_name}:predict",
                json={"instances": [instance]},
                headers={"x-request-id": request_id},
                timeout=30,
            )
            result.requests += 1
            if reply.status_code != 200:
                result.failed += 1
                continue
            result.by_storage_uri[predictor.storage_uri] += 1
            result.labels.append({"request_id": request_id, "index": 0, label: record[label]})
        result.seconds = time.monotonic() - started
        return result


def write_labels(labels: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(labels).to_csv(path, index=False)
    return path
