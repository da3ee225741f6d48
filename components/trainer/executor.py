"""Trainer: trains with the user's run_fn (TFX's Trainer contract, fed an FnArgs like TFX's)
or the generated one, which follows the same contract; then checks the exported SavedModel
(TFX layout: <model>/Format-Serving) has what the Evaluator and the predictor read.

The generated run_fn trains the generated model (components/trainer/model.py) on the
transformed splits (components/trainer/data.py) with the strategy distribute.py picks:
MultiWorkerMirroredStrategy under a TF_CONFIG with several workers, MirroredStrategy when a
GPU is visible; logs to TensorBoard in the ModelRun, and exports the model with the transform
graph inside (components/trainer/export.py). Only the chief writes the outputs.

A task that was given GPUs (on a cluster) and in which TensorFlow sees fewer fails before it
reads any data, unless resources.trainer.allow_cpu_fallback: a GPU pod that trains on CPU is a
broken image or node, and would otherwise only show as a slow run.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import shutil
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.public import tfxio

from components.common.io import log, read_json, step, write_json
from components.common.user_code import load_function, module_copy
from components.trainer import data
from components.trainer.distribute import WriteDirs, choose_strategy, task_from_env
from components.trainer.export import check_exported_model, export_serving_model
from components.trainer.model import build_model, inputs_from_config, inputs_from_schema
from components.trainer.tracing import grappler_off, skip_autograph_in_tf_keras
from contracts.artifacts import CUSTOM_CONFIG, LABEL_INFO, TRAIN_RESULT, examples_pattern, serving_model_dir
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult


@dataclass(frozen=True)
class Inputs:
    transformed_examples: str
    transform_graph: str
    epochs: int = 0  # overrides model.epochs (the pipeline's epochs parameter)
    steps_per_epoch: int = -1  # overrides model.steps_per_epoch when >= 0
    gpus: int = 0  # GPUs the task was given (requested_gpus): TensorFlow must see them


@dataclass(frozen=True)
class Outputs:
    model: str
    model_run: str


@dataclass
class Result(ExecutorResult):
    run_fn: str  # "generated", or the user's
    strategy: str
    devices: list[str]
    epochs: int
    train_examples_seen: int
    train_seconds: float
    examples_per_second: float
    final_metrics: dict[str, float] = field(default_factory=dict)
    serving_model_dir: str = ""
    epoch_seconds: list[float] = field(default_factory=list)  # fit's epochs, validation included
    workers: int = 1
    chief: bool = True  # only the chief wrote the model and train_result.json


class DataAccessor:
    """TFX's DataAccessor, the part run_fns use: tf_dataset_factory(file_pattern, options, schema)."""

    def tf_dataset_factory(
        self, file_pattern, options: tfxio.TensorFlowDatasetOptions, schema: schema_pb2.Schema
    ) -> tf.data.Dataset:
        source = tfxio.TFExampleRecord(file_pattern=file_pattern, schema=schema, telemetry_descriptors=["tabml"])
        return source.TensorFlowDataset(options)


@dataclass
class FnArgs:
    """What a run_fn gets: TFX's FnArgs fields (train_files ... custom_config), plus the
    label and task, and export_serving_model(model) to save the two signatures."""

    train_files: list[str]
    eval_files: list[str]
    train_steps: int
    eval_steps: int
    transform_output: str
    serving_model_dir: str
    model_run_dir: str
    schema_file: str
    custom_config: dict
    label_key: str
    task: str
    classes: list[str]
    epochs: int
    steps_per_epoch: int
    data_accessor: DataAccessor = field(default_factory=DataAccessor)
    working_dir: str = ""
    hyperparameters: dict | None = None
    base_model: str | None = None
    # Made before any op ran (MultiWorkerMirroredStrategy must be): a run_fn trains in its
    # scope. On a worker that is not the chief, the output directories above are temporary.
    strategy: tf.distribute.Strategy | None = None
    # what train_result.json records from the generated run_fn
    report: dict = field(default_factory=dict)

    @property
    def transform_graph_path(self) -> str:
        return self.transform_output

    @property
    def schema_path(self) -> str:
        return self.schema_file

    @property
    def raw_features(self) -> list[str]:
        return [f["name"] for f in self.custom_config["features"]]

    def export_serving_model(self, model: keras.Model, export_dir: str | None = None) -> None:
        """Saves `model` (inputs: the transformed features by name) with the transform graph
        and both signatures, as the project's Evaluator and predictor expect."""
        export_serving_model(
            model,
            tft.TFTransformOutput(self.transform_output),
            self.raw_features,
            self.label_key,
            self.task,
            self.classes,
            export_dir or self.serving_model_dir,
        )


NVIDIA_LIB = "/usr/local/nvidia/lib64"  # where GKE mounts the node's driver libraries


class GpuNotVisible(RuntimeError):
    """The task was given GPUs and TensorFlow does not see them."""


def requested_gpus(config: PipelineConfig, artifact_uri: str) -> int:
    """The GPUs a Trainer task was given: resources.trainer.gpu_count when a cluster backend
    (KFP on GKE, Vertex AI) launched it, which its remote artifact URIs (gs://, minio://, s3://)
    tell; 0 under kfp.local (local paths), which ignores resource requests."""
    return config.resources.trainer.gpu_count if "://" in artifact_uri else 0


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _gpu_diagnosis(gpus: list) -> str:
    """What decides whether TensorFlow sees a GPU, as found in this container."""
    try:
        ctypes.CDLL("libcuda.so.1")
        driver = "loads"
    except OSError as err:
        driver = f"does not load ({err})"
    build = tf.sysconfig.get_build_info()
    return (
        f"tf.config.list_physical_devices('GPU') = {[g.name for g in gpus]}; "
        f"the driver's libcuda.so.1 {driver}; "
        f"LD_LIBRARY_PATH = {os.environ.get('LD_LIBRARY_PATH', '')!r}; "
        f"{NVIDIA_LIB} (GKE's driver mount) exists: {os.path.isdir(NVIDIA_LIB)}; "
        f"nvidia-smi: {shutil.which('nvidia-smi') or 'not on PATH'}; "
        f"NVIDIA_VISIBLE_DEVICES = {os.environ.get('NVIDIA_VISIBLE_DEVICES')!r}; "
        f"TensorFlow's pip CUDA libraries (the GPU image's nvidia-cudnn-cu12 ...): "
        f"{'installed' if _installed('nvidia.cudnn') else 'not installed'}; "
        f"TensorFlow {tf.__version__} built for CUDA {build.get('cuda_version', 'none')} / "
        f"cuDNN {build.get('cudnn_version', 'none')} (is_cuda_build={build.get('is_cuda_build', False)})"
    )


def check_gpus(wanted: int, allow_cpu_fallback: bool) -> int:
    """The number of GPUs TensorFlow sees; raises GpuNotVisible when fewer than `wanted`
    (the GPUs the task was given) unless allow_cpu_fallback, which logs a warning instead."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= wanted:
        return len(gpus)
    what = (
        f"resources.trainer.gpu_count is {wanted} and this task runs on a cluster, "
        f"but TensorFlow sees {len(gpus)} GPU(s)"
    )
    if allow_cpu_fallback:
        log.warning(
            "Trainer: %s; going on as resources.trainer.allow_cpu_fallback says. Checked: %s",
            what,
            _gpu_diagnosis(gpus),
        )
        return len(gpus)
    raise GpuNotVisible(
        f"{what}. Checked: {_gpu_diagnosis(gpus)}. Fix: run the Trainer in the GPU image "
        f"(images/trainer-gpu.Dockerfile, which `tabml compile` uses when gpu_count > 0: its "
        f"LD_LIBRARY_PATH holds {NVIDIA_LIB} and TensorFlow's pip CUDA libraries) on a node pool "
        f"with GPU driver installation (GKE) or an accelerator (Vertex); or set "
        f"resources.trainer.gpu_count: 0, or allow_cpu_fallback: true to train on CPU on purpose"
    )


# Steps per call of the compiled train (and test) function once a fit on one replica has at least
# _STEPS_PER_CALL_FROM steps: Keras's work between calls (~0.8 ms of CPU a step for the generated
# model) is paid once per 16 steps, the same updates in the same order (1M rows: ~16 of ~52 CPU-s);
# tracing the loop costs ~0.8 s of CPU more, which a short fit does not win back. Not with several
# replicas: MultiWorkerMirroredStrategy's gathers of the embeddings' sparse gradients fail inside
# the loop (shape mismatch between iterations).
_STEPS_PER_CALL = 16
_STEPS_PER_CALL_FROM = 2000


class _EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def generated_run_fn(
    config: PipelineConfig,
    fn_args: FnArgs,
    train_rows: dict[str, tf.Tensor] | None,
    eval_rows: dict[str, tf.Tensor] | None,
) -> None:
    """The project's own run_fn: the generated model, trained on the splits run() read (None:
    streamed from the files) and exported."""
    keras.utils.set_random_seed(config.model.seed)
    strategy = fn_args.strategy or tf.distribute.get_strategy()
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    inputs = (
        inputs_from_schema(tft_output, fn_args.label_key)
        if config.user_code.preprocessing_fn
        else inputs_from_config(config, tft_output)
    )
    names = [i.name for i in inputs]
    spec = tft_output.transformed_feature_spec()
    batch = config.model.batch_size * strategy.num_replicas_in_sync  # the global batch
    repeat = fn_args.steps_per_epoch > 0

    def split(files, rows, training):
        return data.dataset(
            files, rows, spec, fn_args.label_key, names, batch, training, training and repeat, config.model.seed
        )

    train_ds, train_steps = split(fn_args.train_files, train_rows, True)
    eval_ds, eval_steps = split(fn_args.eval_files, eval_rows, False)
    mean, std = (0.0, 1.0)
    if fn_args.task == "regression":
        mean, std = _label_moments(fn_args.train_files, spec, fn_args.label_key, train_rows)
    with strategy.scope():
        many = fn_args.train_steps >= _STEPS_PER_CALL_FROM and strategy.num_replicas_in_sync == 1
        per_call = _STEPS_PER_CALL if many else 1
        model = build_model(config, inputs, fn_args.classes, mean, std, per_call)
        # Slots made now, not inside the first train step, which would then be traced twice.
        model.optimizer.build(model.trainable_variables)
    timer = _EpochTimes()
    callbacks = [timer, keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")]
    with step(f"Trainer: {fn_args.epochs} epoch(s), batch {batch}"):
        start = time.perf_counter()
        with grappler_off(not tf.config.list_physical_devices("GPU")):
            history = model.fit(
                train_ds,
                validation_data=eval_ds,
                epochs=fn_args.epochs,
                steps_per_epoch=fn_args.steps_per_epoch or train_steps,
                validation_steps=eval_steps,
                callbacks=callbacks,
                verbose=2,
            )
        seconds = time.perf_counter() - start
    with step("Trainer: exporting the SavedModel with the transform graph"):
        fn_args.export_serving_model(model)
    fn_args.report.update(
        strategy=type(strategy).__name__,
        seconds=seconds,
        epoch_seconds=[round(s, 3) for s in timer.seconds],
        batch=batch,
        final_metrics={k: float(v[-1]) for k, v in history.history.items()},
    )


def _label_moments(files, spec, label, columns) -> tuple[float, float]:
    if columns is not None:
        values = columns[label].numpy().reshape(-1)
    else:
        batches = data.parsed_batches(files, {label: spec[label]})
        values = np.concatenate([b[label].numpy().reshape(-1) for b in batches])
    return float(values.mean()), float(values.std() or 1.0)


def _read_splits(transform_graph: str, splits: list[list[str]], hold: bool) -> tuple[list, list[int]]:
    """Each split's columns and row count. With `hold` (the generated run_fn), the splits are
    read once, into memory where they fit (else None: streamed later), and the counts come with
    them; a user's run_fn reads the files itself, so only their records are counted."""
    held: list[dict[str, tf.Tensor] | None] = [None] * len(splits)
    if hold:
        spec = tft.TFTransformOutput(transform_graph).transformed_feature_spec()
        with step("Trainer: reading the transformed splits"):
            held = [data.load_columns(files, spec) for files in splits]
        log.info("Trainer: %s", "splits held in memory" if held[0] is not None else "streaming from the files")
    counts = [
        data.count_records(files) if columns is None else data.column_rows(columns)
        for files, columns in zip(splits, held, strict=True)
    ]
    return held, counts


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    check_gpus(inputs.gpus, config.resources.trainer.allow_cpu_fallback)
    task = task_from_env()
    strategy = choose_strategy(task)  # before any op runs: multi-worker collectives need that
    skip_autograph_in_tf_keras()
    epochs = inputs.epochs or config.model.epochs
    steps_per_epoch = config.model.steps_per_epoch if inputs.steps_per_epoch < 0 else inputs.steps_per_epoch
    label = read_json(os.path.join(inputs.transform_graph, LABEL_INFO))
    train_files = [examples_pattern(inputs.transformed_examples, "train")]
    eval_files = [examples_pattern(inputs.transformed_examples, "eval")]
    code = config.user_code
    held, (n_train, n_eval) = _read_splits(inputs.transform_graph, [train_files, eval_files], not code.run_fn)
    per_epoch = steps_per_epoch or math.ceil(n_train / config.model.batch_size)
    with WriteDirs(task, outputs.model, outputs.model_run) as (model_dir, model_run):
        tf.io.gfile.makedirs(model_run)
        fn_args = FnArgs(
            train_files=train_files,
            eval_files=eval_files,
            train_steps=per_epoch * epochs,
            eval_steps=math.ceil(n_eval / config.model.batch_size),
            transform_output=inputs.transform_graph,
            serving_model_dir=serving_model_dir(model_dir),
            model_run_dir=model_run,
            schema_file=os.path.join(inputs.transform_graph, tft.TFTransformOutput.RAW_METADATA_DIR, "schema.pbtxt"),
            custom_config=read_json(os.path.join(inputs.transform_graph, CUSTOM_CONFIG)),
            label_key=config.label.name,
            task=config.label.task,
            classes=label.get("classes", []) if config.label.task == "multiclass" else [],
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            working_dir=model_dir,
            strategy=strategy,
            report={"train_rows": n_train, "eval_rows": n_eval},
        )
        start = time.perf_counter()
        if code.run_fn:
            user_run_fn = load_function(code, "run_fn", module_copy(inputs.transform_graph))
            with step(f"Trainer: the user's run_fn {code.run_fn}"):
                user_run_fn(fn_args)
            check_exported_model(fn_args.serving_model_dir, config.label.task)
        else:
            generated_run_fn(config, fn_args, *held)
    seconds = fn_args.report.get("seconds", time.perf_counter() - start)
    seen = (
        steps_per_epoch * fn_args.report.get("batch", config.model.batch_size) * epochs
        if steps_per_epoch
        else n_train * epochs
    )
    result = Result(
        run_fn=code.run_fn or "generated",
        strategy=fn_args.report.get("strategy", "run_fn's own"),
        devices=[d.name for d in tf.config.list_logical_devices()],
        epochs=epochs,
        train_examples_seen=seen,
        train_seconds=round(seconds, 2),
        examples_per_second=round(seen / max(seconds, 1e-9), 1),
        final_metrics=fn_args.report.get("final_metrics", {}),
        serving_model_dir=serving_model_dir(outputs.model),
        epoch_seconds=fn_args.report.get("epoch_seconds", []),
        workers=task.workers,
        chief=task.is_chief,
    )
    if task.is_chief:
        write_json(os.path.join(outputs.model_run, TRAIN_RESULT), result.to_dict())
    log.info(
        "Trainer: %s; %.0f examples/s; final %s",
        result.strategy,
        result.examples_per_second,
        {k: round(v, 4) for k, v in result.final_metrics.items()},
    )
    return result
