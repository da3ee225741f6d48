"""The Trainer on several workers: TF_CONFIG as Vertex and Kubeflow's TFJob set it, only the chief
writing, the Vertex CustomJob worker pools, and two real workers on loopback training the same
model as one worker does.

Why the two runs can be compared weight for weight: both see the same global batch (2 workers x
64 = 1 worker x 128) in the same order (the same seed shuffles the same rows in every process;
each worker takes its half of every global batch), start from the same weights (the chief's,
broadcast), and MultiWorkerMirroredStrategy sums the workers' gradients of a loss already
divided by the global batch: the same update, up to the order of float additions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from components.trainer.distribute import Task, WriteDirs, task_from_env
from tests.conftest import REPO


def _tf_config(cluster: dict, kind: str, index: int) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})}


def test_tf_config_as_vertex_and_tfjob_set_it():
    # Vertex: worker pool 0 is the chief, pool 1 the workers (plus fields TensorFlow ignores).
    vertex = {"chief": ["cmle-training-workerpool0-1:2222"], "worker": ["w0:2222", "w1:2222"]}
    chief = task_from_env(_tf_config(vertex, "chief", 0) | {"CLUSTER_SPEC": "{}"})
    assert (chief.workers, chief.is_chief) == (3, True)
    assert not task_from_env(_tf_config(vertex, "worker", 0)).is_chief  # there is a chief
    # TFJob with workers only: worker 0 is the chief.
    workers = {"worker": ["w0:2222", "w1:2222"]}
    assert task_from_env(_tf_config(workers, "worker", 0)).is_chief
    assert not task_from_env(_tf_config(workers, "worker", 1)).is_chief
    # One task, or none: not distributed.
    assert task_from_env(_tf_config({"chief": ["c:2222"]}, "chief", 0)) == Task()
    assert task_from_env({}) == Task() and Task().is_chief


def test_only_the_chief_writes(tmp_path):
    model, run = str(tmp_path / "model"), str(tmp_path / "run")
    with WriteDirs(Task(workers=2, type="worker", index=0), model, run) as dirs:
        assert dirs == [model, run]
    with WriteDirs(Task(workers=2, type="worker", index=1, alone=True), model, run) as dirs:
        assert not any(d.startswith(str(tmp_path)) for d in dirs)
        for d in dirs:
            os.makedirs(d)
            open(os.path.join(d, "x"), "w").close()
    assert not any(os.path.exists(d) for d in dirs) and not list(tmp_path.iterdir())


_WORKER = """
import json, sys
import components
from components.trainer import executor as trainer
from contracts.config import parse_config
config = parse_config(open(sys.argv[1]).read())
result = trainer.run(config, trainer.Inputs(sys.argv[2], sys.argv[3]), trainer.Outputs(sys.argv[4], sys.argv[5]))
print("RESULT " + json.dumps(result.to_dict()))
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(chain, tmp_path, name: str, batch: int, env: dict) -> tuple[subprocess.Popen, dict]:
    config = chain.config.model_dump(mode="json")
    config["model"] |= {"epochs": 2, "batch_size": batch}
    (tmp_path / f"{name}.json").write_text(json.dumps(config))
    out = {"model": tmp_path / name / "model", "model_run": tmp_path / name / "model_run"}
    args = [str(tmp_path / f"{name}.json"), str(chain.transformed), str(chain.transform_graph)]
    inherited = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env = inherited | {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"} | env
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, *args, str(out["model"]), str(out["model_run"])],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, out


def _result(proc: subprocess.Popen) -> dict:
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]
    return json.loads(next(ln for ln in log.splitlines() if ln.startswith("RESULT "))[7:])


def _scores(model_dir, examples_dir) -> np.ndarray:
    files = tf.io.gfile.glob(str(examples_dir / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(500)))
    model = tf.saved_model.load(str(model_dir / "Format-Serving"))
    return model.signatures["serving_default"](examples=serialized)["probabilities"].numpy()


@pytest.mark.slow
def test_two_workers_on_loopback_train_what_one_worker_trains(chain, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    workers = [_start(chain, tmp_path, f"worker{i}", 64, _tf_config(cluster, "worker", i)) for i in range(2)]
    single_proc, single = _start(chain, tmp_path, "single", 128, {})
    (chief_result, chief), (other_result, other) = [(_result(p), out) for p, out in workers]
    single_result = _result(single_proc)

    assert chief_result["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirroredStrategy
    assert chief_result["workers"] == 2 and chief_result["chief"] and not other_result["chief"]
    assert single_result["strategy"] == "_DefaultDistributionStrategy" and single_result["workers"] == 1
    # Only the chief wrote: the model, the TensorBoard logs and train_result.json.
    assert (chief["model"] / "Format-Serving" / "saved_model.pb").exists()
    assert json.loads((chief["model_run"] / "train_result.json").read_text())["workers"] == 2
    assert tf.io.gfile.glob(str(chief["model_run"] / "train" / "events.out.tfevents.*"))
    assert not other["model"].exists() and not other["model_run"].exists()

    # The same training: metrics (both workers report the all-reduced ones) and predictions.
    for name, value in single_result["final_metrics"].items():
        assert chief_result["final_metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        assert other_result["final_metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    scores = _scores(chief["model"], chain.examples)
    np.testing.assert_allclose(scores, _scores(single["model"], chain.examples), rtol=0, atol=1e-4)
    assert scores.std() > 0.05  # a model that learnt something
