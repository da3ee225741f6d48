"""tabml: check a config, run the pipeline locally, compile it, submit and schedule it, serve and roll out."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from contracts.config import ConfigError, load_config

app = typer.Typer(
    help="Train, evaluate and push a model for any tabular dataset with the TFX libraries on Kubeflow "
    "Pipelines v2 or Vertex AI Pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

DEFAULT_CONFIG = Path("examples/chicago_taxi/config.yaml")
ConfigOption = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Pipeline config (YAML); see docs/config.md.")


def _load(path: Path):
    try:
        return load_config(path)
    except ConfigError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None


@app.command("validate-config")
def validate_config(config: Path = ConfigOption) -> None:
    """Check a config file and what it names (schema, user code), without reading the data."""
    from pipelines.preflight import PreflightError, preflight

    cfg = _load(config)
    try:
        notes = preflight(cfg)
    except PreflightError as err:
        console.print(f"[red]error:[/red] {config}: {err}")
        raise typer.Exit(2) from None
    console.print(
        f"[green]ok[/green] {config}: pipeline '{cfg.pipeline_name}', model '{cfg.model_name}' "
        f"({cfg.label.task}, label '{cfg.label.name}'), {len(cfg.features)} features, data {cfg.data.source}"
    )
    for note in notes:
        console.print(f"  {note}")


@app.command("compile")
def compile_cmd(
    config: Path = ConfigOption,
    output_dir: Path = typer.Option(Path("compiled"), help="Where the YAML goes."),
    image_registry: str | None = typer.Option(
        None,
        help="Registry the images were pushed to, e.g. us-docker.pkg.dev/PROJECT/REPO "
        "(default: the placeholder compiled/ is generated with).",
    ),
    image_tag: str | None = typer.Option(None, help="Image tag, e.g. the git SHA (default: latest)."),
    target: str | None = typer.Option(None, help="Only this target: kfp or vertex (default: both)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="KFP/Vertex step caching."),
    runner_variants: bool = typer.Option(
        True,
        "--runner-variants/--no-runner-variants",
        help="Also the variants with the Beam steps on another configured runner (<name>.<runner>.<target>.yaml); "
        "without: only the config's beam.runner.",
    ),
    pipeline: str = typer.Option(
        "both", help="training, monitoring or both (one package per target for `submit --package dir/*.yaml`)."
    ),
) -> None:
    """Compile the training and the monitoring pipeline to KFP v2 YAML:
    <output-dir>/<pipeline_name>.{kfp,vertex}.yaml and <pipeline_name>-monitor.{kfp,vertex}.yaml."""
    from components.images import images_for
    from pipelines.compile import (
        DEFAULT_IMAGE_REGISTRY,
        DEFAULT_IMAGE_TAG,
        compile_monitoring,
        compile_pipeline,
        training_variants,
    )
    from pipelines.preflight import PreflightError, check_beam
    from pipelines.training_pipeline import TARGETS

    cfg = _load(config)
    try:
        check_beam(cfg)
    except PreflightError as err:
        console.print(f"[red]error:[/red] {config}: {err}")
        raise typer.Exit(2) from None
    if target not in (None, *TARGETS):
        console.print(f"[red]error:[/red] --target must be one of {list(TARGETS)}, got {target!r}")
        raise typer.Exit(2)
    if pipeline not in ("training", "monitoring", "both"):
        console.print(f"[red]error:[/red] --pipeline must be training, monitoring or both, got {pipeline!r}")
        raise typer.Exit(2)
    images = images_for(image_registry or DEFAULT_IMAGE_REGISTRY, image_tag or DEFAULT_IMAGE_TAG)
    for t in [target] if target else TARGETS:
        if pipeline != "monitoring":
            for runner in [r for vt, r in training_variants(cfg) if vt == t and (runner_variants or r is None)]:
                path = compile_pipeline(cfg, output_dir, t, images=images, caching=cache, beam_runner=runner)
                console.print(f"wrote {path} (images {images.cpu}, {images.gpu}; Beam on {runner or cfg.beam.runner})")
        if pipeline != "training":
            console.print(f"wrote {compile_monitoring(cfg, output_dir, t, images=images)} (never cached)")


@app.command("run-local")
def run_local_cmd(
    config: Path = ConfigOption,
    pipeline_root: Path = typer.Option(Path("artifacts/local_runs"), help="Where run artifacts go."),
    data_source: str | None = typer.Option(None, help="Override data.source (file, glob, dir, gs://)."),
    epochs: int | None = typer.Option(None, min=1, help="Override model.epochs."),
    registry: str | None = typer.Option(None, help="Override push.registry."),
    extra_data: str = typer.Option(
        "", help="Labelled rows appended to the data (e.g. a monitoring window's labelled.csv): features + label."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Stream every step's whole output (it always goes to <run dir>/logs/)."
    ),
    warm: bool = typer.Option(
        True, "--warm/--no-warm", help="Fork the steps from one process that has imported their libraries."
    ),
) -> None:
    """Run the whole pipeline on this machine (kfp.local, in this environment): each step as it
    starts and ends, with its wall time and key figures; its full output in <run dir>/logs/<step>.log."""
    import sys

    from rich.markup import escape

    from pipelines.local_run import run_local
    from pipelines.preflight import PreflightError, check_user_code
    from pipelines.progress import LiveProgress

    cfg = _load(config)
    try:
        check_user_code(cfg)
    except PreflightError as err:
        console.print(f"[red]error:[/red] {config}: {err}")
        raise typer.Exit(2) from None
    console.print(f"Running '{cfg.pipeline_name}' locally; artifacts under {pipeline_root}/")
    # Its own console on the real stdout: kfp.local's output is redirected while the run lasts.
    progress = LiveProgress(Console(file=sys.stdout, soft_wrap=True), verbose=verbose)
    try:
        with progress:
            run = run_local(
                cfg,
                pipeline_root,
                data_source=data_source,
                epochs=epochs,
                registry=registry,
                extra_data=extra_data,
                verbose=verbose,
                listener=progress,
                warm=warm,
            )
    except RuntimeError as err:
        console.print(f"[red]run failed:[/red] {escape(str(err))}\nNothing was pushed.", soft_wrap=True)
        raise typer.Exit(1) from None
    print_summary(run)


@app.command("canary")
def canary_cmd(
    window: str = typer.Argument(..., help="RequestWindow's output, or a request log (file, glob, dir) to read."),
    config: Path = ConfigOption,
    baseline: str = typer.Option("", help="The stable version's window or log (RawDeployment: no traffic split)."),
    start: str = typer.Option("", help="Window start, ISO 8601 (when reading a request log)."),
    end: str = typer.Option("", help="Window end, ISO 8601; default: now."),
    hours: float = typer.Option(24.0, help="Window length when --start is not given."),
    labels: str = typer.Option("", help="Ground truth joined by request id (CSV or JSON lines)."),
    canary_version: str = typer.Option(
        "", help="Default: the service's tabml.dev/model-version with --act, else the newest."
    ),
    stable_version: str = typer.Option("", help="Default: the window's (or baseline's) other version."),
    namespace: str | None = typer.Option(None, help="Default: push.kserve."),
    name: str | None = typer.Option(None, help="Default: push.kserve."),
    act: bool = typer.Option(False, help="Promote or roll back (restoring the previous URI); else a dry run."),
    output_dir: str = typer.Option("artifacts/canary", help="analysis.json + analysis.md, and the windows read."),
) -> None:
    """Compare the canary with the stable model over a request window; --act promotes or rolls back."""
    from components.canary_analysis.executor import CanaryError
    from components.request_window.logs import RequestLogError
    from pipelines.canary import analyse_and_act
    from rollout import RolloutError

    cfg = _load(config)
    try:
        result = analyse_and_act(
            cfg,
            window,
            namespace or "",
            name or "",
            act,
            baseline_window=baseline,
            canary_version=canary_version,
            stable_version=stable_version,
            output_dir=output_dir,
            start=start,
            end=end,
            window_hours=hours,
            labels=labels,
        )
    except (CanaryError, RequestLogError, RolloutError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
    console.print(
        f"canary {result.canary_version} vs stable {result.stable_version}: {result.decision}; {result.action}"
    )
    for reason in result.reasons:
        console.print(f"  - {reason}")
    console.print(f"{output_dir}/analysis/analysis.md")


@app.command("loop")
def loop_cmd(
    config: Path = ConfigOption,
    workdir: Path = typer.Option(Path("artifacts/loop"), help="Everything the loop writes (emptied first)."),
    shift_feature: str = typer.Option("", help="The numeric feature the shifted traffic changes (default: the first)."),
    shift_factor: float = typer.Option(3.0, help="What the shift multiplies it by."),
    canary_percent: int = typer.Option(20, min=1, max=99, help="The retrained model's share of traffic."),
) -> None:
    """The whole loop locally: train and serve v1, replay live traffic (unshifted, then shifted),
    monitor, retrain, canary against a Kubernetes API stand-in, analyse, promote or roll back."""
    from pipelines.local_run import RunFailed
    from pipelines.local_serving import LocalServingError
    from pipelines.loop import LoopError, LoopPlan, run_loop

    cfg = _load(config)
    if shift_feature and shift_feature not in {f.name for f in cfg.features}:
        console.print(f"[red]error:[/red] --shift-feature {shift_feature!r} is not a feature of {config}")
        raise typer.Exit(2)
    plan = LoopPlan(shift_feature=shift_feature, shift_factor=shift_factor, canary_percent=canary_percent)
    try:
        run_loop(cfg, workdir, plan)
    except (LoopError, LocalServingError, RunFailed) as err:
        console.print(f"[red]loop failed:[/red] {err}")
        raise typer.Exit(1) from None


@app.command("monitor")
def monitor_cmd(
    config: Path = ConfigOption,
    request_log: str = typer.Option(
        "artifacts/serving", help="The predictor's request log: file, glob or directory (local or gs://)."
    ),
    start: str = typer.Option("", help="Window start, ISO 8601 UTC (default: --window-hours before the end)."),
    end: str = typer.Option("", help="Window end (excluded), ISO 8601 UTC (default: now)."),
    window_hours: float = typer.Option(24.0, min=0.001, help="Window length when --start is not given."),
    labels: str = typer.Option("", help="Ground truth that arrived later: CSV or JSON lines with request_id."),
    registry: str | None = typer.Option(None, help="Override push.registry."),
    retrain_target: str = typer.Option(
        "record", help="record (record the trigger only), local (train here when triggered), kfp or vertex."
    ),
    training_package: str = typer.Option("", help="[kfp/vertex] The compiled training pipeline a retrain starts."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A retrain's training parameter name=value; repeatable (e.g. -p data_source=...)."
    ),
    cooldown_hours: float = typer.Option(24.0, min=0, help="At most one retrain per this many hours."),
    host: str = typer.Option("", help="[kfp] KFP API endpoint a retrain is started on."),
    pipeline_root: Path = typer.Option(Path("artifacts/monitor_runs"), help="Where run artifacts go."),
    training_root: Path = typer.Option(
        Path("artifacts/local_runs"), help="[local] Where a retrain's training run artifacts go."
    ),
) -> None:
    """Judge a window of served requests (skew, drift, live quality) and retrain when needed:
    the monitoring pipeline on this machine (kfp.local); with --retrain-target local, then the
    training pipeline on the data plus the window's labelled rows."""
    import json

    from pipelines.local_run import RunFailed
    from pipelines.monitoring_pipeline import run_monitor_local

    cfg = _load(config)
    if retrain_target not in ("record", "local", "kfp", "vertex"):
        console.print(
            f"[red]error:[/red] --retrain-target must be record, local, kfp or vertex, got {retrain_target!r}"
        )
        raise typer.Exit(2)
    pairs = dict(p.split("=", 1) for p in param if "=" in p)
    if len(pairs) != len(param):
        console.print(f"[red]error:[/red] --param expects name=value, got {param}")
        raise typer.Exit(2)
    try:
        run = run_monitor_local(
            cfg,
            pipeline_root,
            request_log,
            start=start,
            end=end,
            window_hours=window_hours,
            labels=labels,
            registry=registry,
            retrain_target=retrain_target,
            training_package=training_package,
            retrain_params=pairs,
            cooldown_hours=cooldown_hours,
            kfp_host=host,
        )
    except RunFailed as err:
        console.print(f"[red]monitoring failed:[/red] {err}\nThe step's full log is above. No retrain was started.")
        raise typer.Exit(1) from None
    decision = json.loads((Path(run.artifacts["monitor"]["decision"]) / "decision.json").read_text())
    trigger = json.loads((Path(run.artifacts["retrain-trigger"]["result"]) / "retrain.json").read_text())
    console.print(f"Decision: [bold]{decision['decision']}[/bold]")
    for line in decision["reasons"]:
        console.print(f"  {line}")
    for line in decision.get("notes", []):
        console.print(f"  note: {line}")
    console.print(f"Retrain: {trigger['reason']}")
    console.print(f"Report: {run.artifacts['monitor']['report']}  (run directory {run.run_dir})")
    if retrain_target == "local" and trigger["triggered"]:
        from pipelines.retrain import RetrainError, start_local_retrain

        params = trigger["run"]["params"]
        rows = trigger.get("labelled_rows", 0)
        extra = f" plus {rows:,} labelled rows ({params['extra_data']})" if params.get("extra_data") else ""
        console.print(f"Retraining on this machine: {params.get('data_source') or cfg.data.source}{extra}")
        try:
            retrained = start_local_retrain(cfg, run.artifacts["retrain-trigger"]["result"], training_root, registry)
        except (RetrainError, RuntimeError) as err:
            console.print(f"[red]retrain failed:[/red] {err}\nThe step's full log is above. Nothing was pushed.")
            raise typer.Exit(1) from None
        print_summary(retrained)


# ------------------------------------------------------------ cluster: submit, schedule, runs

TargetOption = typer.Option(..., "--target", "-t", help="kfp (a Kubeflow Pipelines endpoint) or vertex.")
HostOption = typer.Option(
    None, help="[kfp] KFP API endpoint, e.g. https://HOST/pipeline (credentials: kube config / in-cluster token)."
)
ExperimentOption = typer.Option("tabml", help="[kfp] Experiment to file runs under.")
NamespaceOption = typer.Option(None, help="[kfp] Kubeflow profile namespace (multi-user clusters).")
ProjectOption = typer.Option(
    None, help="[vertex] GCP project (default: the config's cloud.project; credentials: application default)."
)
RegionOption = typer.Option(None, help="[vertex] Region (default: the config's cloud.region, else us-central1).")
PipelineRootOption = typer.Option(
    None, help="[vertex] gs:// pipeline root for run artifacts (default: the config's cloud.pipeline_root)."
)
ServiceAccountOption = typer.Option("", help="Service account the run executes as.")
LabelOption = typer.Option([], "--label", help="[vertex] key=value label; repeatable.")
ParamOption = typer.Option(
    [],
    "--param",
    "-p",
    help="Pipeline parameter name=value; repeatable (e.g. -p epochs=10 -p model_registry=gs://B/models).",
)


def _package(target: str, package: Path | None, config: Path) -> Path:
    from pipelines.compile import compiled_path

    return package or compiled_path(_load(config), Path("compiled"), target)


def _make_target(target: str, host, experiment, namespace, project, region, pipeline_root, service_account, labels):
    from pipelines.submit import KfpTarget, SubmitError, VertexTarget

    if target == "kfp":
        if not host:
            raise SubmitError("--target kfp needs --host (the KFP API endpoint)")
        return KfpTarget(host=host, experiment=experiment, namespace=namespace, service_account=service_account)
    if target == "vertex":
        if not project or not pipeline_root:
            raise SubmitError("--target vertex needs --project and --pipeline-root gs://...")
        pairs = dict(label.split("=", 1) for label in labels if "=" in label)
        if len(pairs) != len(labels):
            raise SubmitError(f"--label expects key=value, got {labels}")
        return VertexTarget(
            project=project, region=region, pipeline_root=pipeline_root, service_account=service_account, labels=pairs
        )
    raise SubmitError(f"--target must be kfp or vertex, got {target!r}")


def _with_cloud_defaults(config: Path, where: dict) -> dict:
    """--project, --region and --pipeline-root default to the config's cloud section (what
    `terraform output tabml_cloud_config` prints)."""
    cloud = _load(config).cloud
    return where | {
        "project": where["project"] or cloud.project or None,
        "region": where["region"] or cloud.region or "us-central1",
        "pipeline_root": where["pipeline_root"] or cloud.pipeline_root or None,
    }


def _send(target, package, params, run_name, cache, dry_run, cron, config: Path, **where):
    import json

    from pipelines.submit import SubmitError, submit_kfp, submit_vertex

    try:
        tgt = _make_target(target, **_with_cloud_defaults(config, where))
        submit = submit_kfp if target == "kfp" else submit_vertex
        sub = submit(tgt, package, params, run_name=run_name, caching=cache, dry_run=dry_run, cron=cron)
    except SubmitError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    if dry_run:
        console.print(f"[bold]dry run[/bold]: {len(sub.requests)} request(s) that would be sent to {target}:")
        for req in sub.requests:
            console.print(f"{req['method']} {req['url']}")
            console.print_json(json.dumps(req["body"], default=str))
    else:
        console.print(f"submitted to {target}: {sub.result}")


@app.command("submit")
def submit_cmd(
    target: str = TargetOption,
    config: Path = ConfigOption,
    package: Path | None = typer.Option(None, help="Compiled YAML (default: compiled/<pipeline>.<target>.yaml)."),
    param: list[str] = ParamOption,
    run_name: str = typer.Option("", help="Run display name."),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="Step caching for this run; ExampleGen's only with a data_fingerprint, which submit "
        "takes of a remote (gs://) data_source.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the requests instead of sending them."),
    host: str | None = HostOption,
    experiment: str = ExperimentOption,
    namespace: str | None = NamespaceOption,
    project: str | None = ProjectOption,
    region: str | None = RegionOption,
    pipeline_root: str | None = PipelineRootOption,
    service_account: str = ServiceAccountOption,
    label: list[str] = LabelOption,
) -> None:
    """Start a one-off run on Kubeflow Pipelines or Vertex AI Pipelines."""
    _send(
        target,
        _package(target, package, config),
        param,
        run_name,
        cache,
        dry_run,
        "",
        config,
        host=host,
        experiment=experiment,
        namespace=namespace,
        project=project,
        region=region,
        pipeline_root=pipeline_root,
        service_account=service_account,
        labels=label,
    )


@app.command("schedule")
def schedule_cmd(
    target: str = TargetOption,
    cron: str = typer.Option(..., help='Cron, 5 fields, UTC, e.g. "0 3 * * *" (daily 03:00).'),
    config: Path = ConfigOption,
    package: Path | None = typer.Option(None, help="Compiled YAML (default: compiled/<pipeline>.<target>.yaml)."),
    param: list[str] = ParamOption,
    run_name: str = typer.Option(
        "",
        "--name",
        "--run-name",
        help="Schedule display name (default: <pipeline_name>-schedule). The schedule of this name "
        "is replaced, so each delivery leaves one schedule.",
    ),
    cache: bool = typer.Option(
        False,
        "--cache/--no-cache",
        help="Step caching for scheduled runs (off by default). ExampleGen is never cached in a "
        "schedule: it sends no data_fingerprint, which would be stale by the next tick.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the requests instead of sending them."),
    host: str | None = HostOption,
    experiment: str = ExperimentOption,
    namespace: str | None = NamespaceOption,
    project: str | None = ProjectOption,
    region: str | None = RegionOption,
    pipeline_root: str | None = PipelineRootOption,
    service_account: str = ServiceAccountOption,
    label: list[str] = LabelOption,
) -> None:
    """Create or replace the pipeline's recurring run (KFP) or PipelineJobSchedule (Vertex)."""
    _send(
        target,
        _package(target, package, config),
        param,
        run_name,
        cache,
        dry_run,
        cron,
        config,
        host=host,
        experiment=experiment,
        namespace=namespace,
        project=project,
        region=region,
        pipeline_root=pipeline_root,
        service_account=service_account,
        labels=label,
    )


@app.command("runs")
def runs_cmd(
    target: str = TargetOption,
    follow: str | None = typer.Option(None, help="Wait for this run (KFP run id / Vertex job name) to finish."),
    limit: int = typer.Option(10, min=1, help="How many recent runs to list."),
    timeout: int = typer.Option(6 * 3600, help="[kfp] Seconds to wait with --follow."),
    host: str | None = HostOption,
    namespace: str | None = NamespaceOption,
    project: str | None = ProjectOption,
    region: str | None = RegionOption,
    pipeline_root: str | None = PipelineRootOption,
) -> None:
    """List recent runs, or follow one until it finishes."""
    from pipelines import submit as s

    try:
        tgt = _make_target(
            target, host, "tabml", namespace, project, region or "us-central1", pipeline_root or "gs://unused", "", []
        )
    except s.SubmitError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    if follow:
        state = s.follow_run_kfp(tgt, follow, timeout) if target == "kfp" else s.follow_run_vertex(tgt, follow)
        console.print(f"{follow}: {state}")
        return
    runs = s.list_runs_kfp(tgt, limit) if target == "kfp" else s.list_runs_vertex(tgt, limit)
    table = Table(title=f"Recent runs on {target}")
    for column in ("run_id", "name", "state", "created", "finished"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(*(str(run[c]) for c in ("run_id", "name", "state", "created", "finished")))
    console.print(table)


# ------------------------------------------------------------ serving: serve, promote, rollback


def _isvc(config: Path, namespace: str | None, name: str | None):
    from components.pusher.executor import kube_custom_objects_api
    from rollout import IsvcRollout

    target = _load(config).push.kserve
    namespace = namespace or (target.namespace if target else None)
    name = name or (target.name if target else None)
    if not namespace or not name:
        console.print(
            "[red]error:[/red] no InferenceService: set push.kserve in the config or pass --namespace and --name"
        )
        raise typer.Exit(2)
    return IsvcRollout(kube_custom_objects_api(), namespace, name)


def _report_rollout(action) -> None:
    """Runs the action (credentials included: none is a RolloutError that says what to do)."""
    from rollout import RolloutError

    try:
        result = action()
    except RolloutError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from None
    console.print(
        f"{result.namespace}/{result.name}: {result.action}; serving {result.storage_uri}"
        + (f" (previous {result.previous_storage_uri})" if result.previous_storage_uri else "")
    )


@app.command("promote")
def promote_cmd(
    config: Path = ConfigOption,
    namespace: str | None = typer.Option(None, help="Default: push.kserve."),
    name: str | None = typer.Option(None, help="Default: push.kserve."),
) -> None:
    """Give the canary 100% of the InferenceService's traffic (kube config credentials)."""
    _report_rollout(lambda: _isvc(config, namespace, name).promote())


@app.command("rollback")
def rollback_cmd(
    config: Path = ConfigOption,
    namespace: str | None = typer.Option(None, help="Default: push.kserve."),
    name: str | None = typer.Option(None, help="Default: push.kserve."),
    restore: bool = typer.Option(False, help="Also put the previous storage URI back in the spec."),
) -> None:
    """Send all traffic back to the previous model at once (canary to 0%)."""
    _report_rollout(lambda: _isvc(config, namespace, name).rollback(restore=restore))


@app.command("serve")
def serve_cmd(
    config: Path = ConfigOption,
    registry: str | None = typer.Option(None, help="Override push.registry."),
    port: int = typer.Option(8080, help="HTTP port on 127.0.0.1."),
    request_log: str = typer.Option("artifacts/serving/requests.jsonl", help="JSON-lines request log."),
) -> None:
    """Serve the newest pushed model locally (KServe v1 + v2) from the serving environment."""
    import os

    cfg = _load(config)
    server = Path("serving/.venv/bin/tabml-serve")
    if not server.exists():
        console.print("[red]error:[/red] the serving environment is not built: run `make setup-serving`")
        raise typer.Exit(2)
    from contracts.registry import model_base

    model_dir = model_base(registry or cfg.push.registry, cfg.model_name)  # a string: keeps gs://
    if "://" not in model_dir and not Path(model_dir).is_dir():
        console.print(f"[red]error:[/red] nothing pushed yet under {model_dir}: run `make run` first")
        raise typer.Exit(2)
    Path(request_log).parent.mkdir(parents=True, exist_ok=True)
    args = [
        str(server),
        "--model_dir",
        model_dir,
        "--host",
        "127.0.0.1",
        "--http_port",
        str(port),
        "--enable_grpc",
        "false",
        "--request_log",
        request_log,
    ]
    console.print(f"serving {model_dir} on http://127.0.0.1:{port} (v1 and v2); request log {request_log}")
    os.execv(args[0], args)


@app.command("report")
def report_cmd(
    runs: str = typer.Argument("artifacts/local_runs", help="A pipeline root: local directory or gs://."),
    monitor_runs: list[str] = typer.Option(
        ["artifacts/monitor_runs"],
        "--monitor-runs",
        help="A pipeline root of monitoring runs (`tabml monitor`'s); repeat for more. Every root is searched "
        "for training and monitoring runs alike.",
    ),
    output: Path = typer.Option(Path("artifacts/report-site"), help="Where the site is written."),
    serve: bool = typer.Option(False, "--serve", help="Then serve it on http://127.0.0.1:PORT."),
    port: int = typer.Option(8000, help="Port for --serve."),
) -> None:
    """Build a browsable site from run artifacts: an index of training and monitoring runs, and
    each run's evaluation or monitoring report."""
    from pipelines.report_site import build

    site = build([runs, *monitor_runs], output)
    console.print(
        f"wrote {site.index} ({site.training_runs} run(s) with an evaluation report, "
        f"{site.monitoring_runs} monitoring run(s))"
    )
    if serve:
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(output))
        with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
            console.print(f"serving http://127.0.0.1:{port}/ (Ctrl-C to stop)")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass


def _fmt(value) -> str:
    return "–" if not isinstance(value, (int, float)) or value != value else f"{value:.4f}"


def print_summary(run) -> None:
    console.print(f"\nRun directory: {run.run_dir}" + (f" (each step's log in {run.logs.name}/)" if run.logs else ""))
    table = Table(title="Steps and artifacts (paths relative to the run directory)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("artifact", overflow="fold")
    for task, outputs in run.artifacts.items():
        paths = [str(Path(p).relative_to(run.run_dir)) for p in outputs.values()]
        secs = run.task_seconds.get(task)
        table.add_row(task, "" if secs is None else f"{secs:.1f}", "\n".join(paths))
    console.print(table)
    if run.blessing:
        print_evaluation(run.blessing)
    if run.push:
        if run.push["pushed"]:
            console.print(f"Pushed version {run.push['version']} to {run.push['destination']}")
        else:
            console.print(f"Nothing pushed: {run.push['reason']}")
    console.print(f"Total wall time {run.seconds:.1f}s")


def print_evaluation(blessing: dict) -> None:
    """The decision, the task's headline metrics and every check; any metric may be missing."""
    from contracts.metrics import METRICS

    metrics = blessing.get("overall_metrics") or {}
    task = blessing.get("task", "binary")
    headline = "  ".join(f"{m.label} {_fmt(metrics.get(m.reported))}" for m in METRICS[task][1:5])
    count = metrics.get("example_count")
    console.print(
        f"Evaluation: [bold]{blessing.get('decision')}[/bold]  {headline}  on "
        f"{int(count) if isinstance(count, (int, float)) else '?'} eval examples"
    )
    baseline = blessing.get("baseline")
    for note in blessing.get("notes", []):
        console.print(f"  {note}")
    if baseline:
        base = blessing.get("baseline_metrics") or {}
        console.print("  baseline: " + "  ".join(f"{m.label} {_fmt(base.get(m.reported))}" for m in METRICS[task][1:3]))
    for check in blessing.get("checks", []):
        console.print(
            f"  value check {check['metric']} = {_fmt(check.get('value'))} "
            f"[{check.get('lower_bound')}, {check.get('upper_bound')}]: {'pass' if check['passed'] else 'FAIL'}"
        )
    gate = blessing.get("fairness_check")
    if gate:
        measured = f"gap {_fmt(gate.get('gap'))}" if gate.get("gap") is not None else "nothing to measure"
        console.print(
            f"  fairness gate: {gate['metric']} over {gate['feature']}: {measured} "
            f"(max {gate['max_gap']}): {'pass' if gate['passed'] else 'FAIL'}"
        )
        counted = [g for g in gate.get("groups") or [] if g.get("counted")]
        if counted:
            shown = ", ".join(f"{g['group']} {_fmt(g['value'])} (n={g['example_count']})" for g in counted[:8])
            console.print(f"    groups compared: {shown}{' ...' if len(counted) > 8 else ''}")
    for reason in blessing.get("reasons", []):
        console.print(f"  not blessed because {reason}")


if __name__ == "__main__":
    app()
