"""Which tf.distribute strategy trains, and which task writes the outputs.

A cluster launcher sets TF_CONFIG on every replica: Vertex AI's CustomJob (worker pool 0 is
the "chief", pool 1 the "worker"s; it also sets CLUSTER_SPEC, which TensorFlow does not read)
and Kubeflow's TFJob. With more than one chief/worker task the Trainer uses
MultiWorkerMirroredStrategy (synchronous all-reduce, every local GPU on every worker); else
MirroredStrategy when GPUs are visible, else the default strategy on CPU.

Only the chief writes the model and the logs; the other workers must still run the same steps
(saving is a collective operation), so they write to a temporary directory that is then removed,
as TensorFlow's multi-worker guide does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import tensorflow as tf

from components.common.io import log


@dataclass(frozen=True)
class Task:
    workers: int = 1  # chief + worker tasks in the cluster
    type: str = ""  # "chief", "worker" ("" outside a cluster)
    index: int = 0
    alone: bool = True  # no "chief" task in the cluster

    @property
    def is_chief(self) -> bool:
        # Without a "chief" task, worker 0 is the chief (TensorFlow's convention).
        return self.type in ("", "chief") or (self.type == "worker" and self.index == 0 and self.alone)


def task_from_env(environ: Mapping[str, str] = os.environ) -> Task:
    config = json.loads(environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    if workers <= 1:
        return Task()
    return Task(
        workers=workers,
        type=task.get("type", ""),
        index=int(task.get("index", 0)),
        alone=not cluster.get("chief"),
    )


def choose_strategy(task: Task) -> tf.distribute.Strategy:
    """Must run before TensorFlow executes any op when task.workers > 1: collective ops are
    configured once, at start-up."""
    gpus = tf.config.list_physical_devices("GPU")
    if task.workers > 1:
        log.info(
            "Trainer: %s %d of %d workers, %d GPU(s) here: MultiWorkerMirroredStrategy",
            task.type,
            task.index,
            task.workers,
            len(gpus),
        )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if gpus:
        log.info("Trainer: %d GPU(s) visible, using MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    log.info("Trainer: no GPU visible, using the default strategy on CPU")
    return tf.distribute.get_strategy()


class WriteDirs:
    """The chief's real output directories; a temporary one for each on the other workers,
    removed on exit."""

    def __init__(self, task: Task, *dirs: str):
        self._temp = "" if task.is_chief else tempfile.mkdtemp(prefix=f"trainer-{task.type}-{task.index}-")
        self.dirs = list(dirs) if task.is_chief else [os.path.join(self._temp, str(i)) for i in range(len(dirs))]

    def __enter__(self) -> list[str]:
        return self.dirs

    def __exit__(self, *exc) -> None:
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
