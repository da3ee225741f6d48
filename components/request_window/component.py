from kfp import dsl
from kfp.dsl import Artifact, Dataset, Output

from components.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def request_window(
    config: str,
    request_log: str,
    window: Output[Dataset],
    statistics: Output[Artifact],
    start: str = "",
    end: str = "",
    window_hours: float = 24.0,
    model_name: str = "",
    labels: str = "",
    schema: str = "",
    model_registry: str = "",
    wait_minutes: float = 0.0,
    log_delay_minutes: float = 0.0,
):
    """The predictor's request log for [start, end) (default: the window_hours before now) as
    window.csv + window.json, and its TFDV statistics (Split-window/FeatureStats.pb).
    labels: ground truth joined by request id; model_registry: served versions must be there.
    wait_minutes: first wait this long; without start/end the window is then that wait (a canary's);
    log_delay_minutes: wait this much more for the log to land (Cloud Logging's export: 60)."""
    from components.common.io import reported_failure, setup_logging
    from components.request_window.executor import Inputs, Outputs, run
    from components.request_window.wait import wait_for_window
    from contracts.config import parse_config

    setup_logging()
    with reported_failure("RequestWindow", window.path):
        cfg = parse_config(config)  # a bad config fails before the wait, not after it
        if wait_minutes and not request_log:
            raise ValueError(
                "RequestWindow: request_log is empty, so nothing could be read after the wait: give where the "
                "predictor's request log lands (a path, or Cloud Logging's export gs://BUCKET/LOG_ID/)"
            )
        waited = wait_for_window(wait_minutes, log_delay_minutes)
        if not (start or end):
            start, end = waited  # ("", "") without a wait: the window_hours before now
        result = run(
            cfg,
            Inputs(
                request_log=request_log,
                start=start,
                end=end,
                window_hours=window_hours,
                model_name=model_name,
                labels=labels,
                schema=schema,
                model_registry=model_registry,
            ),
            Outputs(window=window.path, statistics=statistics.path),
        )
    window.metadata.update(result.to_dict())
    statistics.metadata.update({"tfx_type": "ExampleStatistics", "split_names": '["window"]', "rows": result.rows})
