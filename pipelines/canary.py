"""`tabml canary`: analyse a canary by hand and, with act, promote or roll it back.

The window is RequestWindow's output, or a request log (the predictor's --request_log, or
Cloud Logging's export) that RequestWindow reads first for [start, end) into
<output_dir>/window. The stable side comes from the same window (Serverless: both revisions
log), or from baseline_window (RawDeployment: the previous version's window, or the same log
read for [baseline_start, baseline_end)).
"""

from __future__ import annotations

import os

import tensorflow as tf

from components.canary_analysis.executor import Inputs, Outputs, Result, run
from components.request_window import executor as request_window
from contracts.config import PipelineConfig
from contracts.monitoring import WINDOW_SUMMARY


def _window(location: str, out: str, *, start: str, end: str, hours: float, config, labels: str, registry: str) -> str:
    """A window directory: `location` itself when it is one, else the one RequestWindow builds."""
    if tf.io.gfile.exists(os.path.join(location, WINDOW_SUMMARY)):
        return location
    request_window.run(
        config,
        request_window.Inputs(
            request_log=location,
            start=start,
            end=end,
            window_hours=hours,
            labels=labels,
            model_registry=registry,
        ),
        request_window.Outputs(window=out, statistics=f"{out}_statistics"),
    )
    return out


def analyse_and_act(
    config: PipelineConfig,
    window: str,
    namespace: str = "",
    name: str = "",
    act: bool = False,
    *,
    baseline_window: str = "",
    canary_version: str = "",
    stable_version: str = "",
    output_dir: str = "artifacts/canary",
    start: str = "",
    end: str = "",
    window_hours: float = 24.0,
    baseline_start: str = "",
    baseline_end: str = "",
    labels: str = "",
    model_registry: str = "",
) -> Result:
    """The analysis (analysis.json + analysis.md under output_dir) and, with act, its decision
    carried out on the InferenceService (namespace/name, default push.kserve)."""
    read = dict(config=config, labels=labels, registry=model_registry)
    current = _window(window, os.path.join(output_dir, "window"), start=start, end=end, hours=window_hours, **read)
    baseline = ""
    if baseline_window:
        baseline = _window(
            baseline_window,
            os.path.join(output_dir, "baseline_window"),
            start=baseline_start,
            end=baseline_end or start,
            hours=window_hours,
            **read,
        )
    inputs = Inputs(
        window=current,
        baseline_window=baseline,
        canary_version=canary_version,
        stable_version=stable_version,
        act=act,
        namespace=namespace,
        name=name,
    )
    return run(config, inputs, Outputs(analysis=os.path.join(output_dir, "analysis")))
