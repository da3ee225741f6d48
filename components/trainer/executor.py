"""Trainer: trains with the user's run_fn (TFX's Trainer contract, fed an FnArgs like TFX's)
or the generated one, which follows the same contract; then checks the exported SavedModel
(TFX layout: <model>/Format-Serving) has what the Evaluator and the predictor read.

The generated run_fn trains the generated model (components/trainer/model.py) with
MirroredStrategy when a GPU is visible, logs to TensorBoard in the ModelRun, and exports
the model with the transform graph inside (components/trainer/export.py).

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
from components.trainer.export import as_model_inputs, check_exported_model, export_serving_model
from components.trainer.model import build_model, inputs_from_config, inputs_from_schema
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


def _count(pattern: str) -> int:
    return sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), compression_type="GZIP"))


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


def choose_strategy() -> tf.distribute.Strategy:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        log.info("Trainer: %d GPU(s) visible, using MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    log.info("Trainer: no GPU visible, using the default strategy on CPU")
    return tf.distribute.get_strategy()


def _dataset(
    fn_args: FnArgs,
    files: list[str],
    tft_output,
    batch: int,
    repeat: bool,
    shuffle: bool,
    seed: int,
    input_names: list[str],
) -> tf.data.Dataset:
    ds = tf.data.experimental.make_batched_features_dataset(
        file_pattern=files,
        batch_size=batch,
        features=tft_output.transformed_feature_spec(),
        reader=lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        label_key=fn_args.label_key,
        num_epochs=None if repeat else 1,
        shuffle=shuffle,
        shuffle_seed=seed,
        sloppy_ordering=False,
    )
    return ds.map(lambda f, y: (as_model_inputs(f, input_names), y)).prefetch(tf.data.AUTOTUNE)


def _label_moments(fn_args: FnArgs, tft_output) -> tuple[float, float]:
    spec = {fn_args.label_key: tft_output.transformed_feature_spec()[fn_args.label_key]}
    values = np.concatenate(
        [
            tf.io.parse_example(b, spec)[fn_args.label_key].numpy().reshape(-1)
            for b in tf.data.TFRecordDataset(tf.io.gfile.glob(fn_args.train_files[0]), compression_type="GZIP").batch(
                10_000
            )
        ]
    )
    return float(values.mean()), float(values.std() or 1.0)


def generated_run_fn(config: PipelineConfig, fn_args: FnArgs) -> None:
    """The project's own run_fn: the generated model, trained and exported."""
    keras.utils.set_random_seed(config.model.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    inputs = (
        inputs_from_schema(tft_output, fn_args.label_key)
        if config.user_code.preprocessing_fn
        else inputs_from_config(config, tft_output)
    )
    names = [i.name for i in inputs]
    strategy = choose_strategy()
    batch = config.model.batch_size * strategy.num_replicas_in_sync
    repeat = fn_args.steps_per_epoch > 0
    train_ds = _dataset(fn_args, fn_args.train_files, tft_output, batch, repeat, True, config.model.seed, names)
    eval_ds = _dataset(fn_args, fn_args.eval_files, tft_output, batch, False, False, config.model.seed, names)
    mean, std = _label_moments(fn_args, tft_output) if fn_args.task == "regression" else (0.0, 1.0)
    with strategy.scope():
        model = build_model(config, inputs, fn_args.classes, mean, std)
    callbacks = [keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")]
    with step(f"Trainer: {fn_args.epochs} epoch(s), batch {batch}"):
        start = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=eval_ds,
            epochs=fn_args.epochs,
            steps_per_epoch=fn_args.steps_per_epoch or None,
            callbacks=callbacks,
            verbose=2,
        )
        seconds = time.perf_counter() - start
    with step("Trainer: exporting the SavedModel with the transform graph"):
        fn_args.export_serving_model(model)
    fn_args.report.update(
        strategy=type(strategy).__name__,
        seconds=seconds,
        batch=batch,
        final_metrics={k: float(v[-1]) for k, v in history.history.items()},
    )


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    check_gpus(inputs.gpus, config.resources.trainer.allow_cpu_fallback)
    epochs = inputs.epochs or config.model.epochs
    steps_per_epoch = config.model.steps_per_epoch if inputs.steps_per_epoch < 0 else inputs.steps_per_epoch
    label = read_json(os.path.join(inputs.transform_graph, LABEL_INFO))
    train_files = [examples_pattern(inputs.transformed_examples, "train")]
    eval_files = [examples_pattern(inputs.transformed_examples, "eval")]
    n_train, n_eval = _count(train_files[0]), _count(eval_files[0])
    per_epoch = steps_per_epoch or math.ceil(n_train / config.model.batch_size)
    tf.io.gfile.makedirs(outputs.model_run)
    fn_args = FnArgs(
        train_files=train_files,
        eval_files=eval_files,
        train_steps=per_epoch * epochs,
        eval_steps=math.ceil(n_eval / config.model.batch_size),
        transform_output=inputs.transform_graph,
        serving_model_dir=serving_model_dir(outputs.model),
        model_run_dir=outputs.model_run,
        schema_file=os.path.join(inputs.transform_graph, tft.TFTransformOutput.RAW_METADATA_DIR, "schema.pbtxt"),
        custom_config=read_json(os.path.join(inputs.transform_graph, CUSTOM_CONFIG)),
        label_key=config.label.name,
        task=config.label.task,
        classes=label.get("classes", []) if config.label.task == "multiclass" else [],
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        working_dir=outputs.model,
    )
    code = config.user_code
    start = time.perf_counter()
    if code.run_fn:
        user_run_fn = load_function(code, "run_fn", module_copy(inputs.transform_graph))
        with step(f"Trainer: the user's run_fn {code.run_fn}"):
            user_run_fn(fn_args)
        check_exported_model(fn_args.serving_model_dir, config.label.task)
    else:
        generated_run_fn(config, fn_args)
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
        serving_model_dir=fn_args.serving_model_dir,
    )
    write_json(os.path.join(outputs.model_run, TRAIN_RESULT), result.to_dict())
    log.info(
        "Trainer: %s; %.0f examples/s; final %s",
        result.strategy,
        result.examples_per_second,
        {k: round(v, 4) for k, v in result.final_metrics.items()},
    )
    return result
