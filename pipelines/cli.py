"""taxi-pipeline: run the training pipeline locally, compile it, check a config."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.config import ConfigError, load_config

app = typer.Typer(help="Train, evaluate and push a model with the TFX libraries on Kubeflow Pipelines v2.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console()

DEFAULT_CONFIG = Path("configs/chicago_taxi.yaml")
ConfigOption = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Pipeline config (YAML).")


def _load(path: Path):
    try:
        return load_config(path)
    except ConfigError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None


@app.command("validate-config")
def validate_config(config: Path = ConfigOption) -> None:
    """Check a config file and print what it will run."""
    cfg = _load(config)
    console.print(f"[green]ok[/green] {config}: pipeline '{cfg.pipeline_name}', model '{cfg.model_name}', "
                  f"{len(cfg.features)} features, data {cfg.data.source}")


@app.command("compile")
def compile_cmd(
    config: Path = ConfigOption,
    output_dir: Path = typer.Option(Path("compiled"), help="Where the YAML goes."),
    image_registry: Optional[str] = typer.Option(
        None, help="Registry the images were pushed to, e.g. us-docker.pkg.dev/PROJECT/REPO "
                   "(default: the placeholder compiled/ is generated with)."),
    image_tag: Optional[str] = typer.Option(None, help="Image tag, e.g. the git SHA (default: latest)."),
    target: Optional[str] = typer.Option(None, help="Only this target: kfp or vertex (default: both)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="KFP/Vertex step caching."),
) -> None:
    """Compile the pipeline to KFP v2 YAML: <output-dir>/<pipeline_name>.{kfp,vertex}.yaml."""
    from components.images import images_for
    from pipelines.compile import DEFAULT_IMAGE_REGISTRY, DEFAULT_IMAGE_TAG, compile_pipeline
    from pipelines.training_pipeline import TARGETS

    cfg = _load(config)
    if target not in (None, *TARGETS):
        console.print(f"[red]error:[/red] --target must be one of {list(TARGETS)}, got {target!r}")
        raise typer.Exit(2)
    images = images_for(image_registry or DEFAULT_IMAGE_REGISTRY, image_tag or DEFAULT_IMAGE_TAG)
    for t in [target] if target else TARGETS:
        path = compile_pipeline(cfg, output_dir, t, images=images, caching=cache)
        console.print(f"wrote {path} (images {images.cpu}, {images.gpu})")


@app.command("run-local")
def run_local_cmd(
    config: Path = ConfigOption,
    pipeline_root: Path = typer.Option(Path("artifacts/local_runs"), help="Where run artifacts go."),
    data_source: Optional[str] = typer.Option(None, help="Override data.source (file, glob, dir, gs://)."),
    epochs: Optional[int] = typer.Option(None, min=1, help="Override model.epochs."),
    registry: Optional[str] = typer.Option(None, help="Override push.registry."),
) -> None:
    """Run the whole pipeline on this machine (kfp.local, in this environment)."""
    from pipelines.local_run import run_local

    cfg = _load(config)
    console.print(f"Running '{cfg.pipeline_name}' locally; artifacts under {pipeline_root}/")
    try:
        run = run_local(cfg, pipeline_root, data_source=data_source, epochs=epochs, registry=registry)
    except RuntimeError as err:
        console.print(f"[red]run failed:[/red] {err}\nThe failing step's log is above. Nothing was pushed.")
        raise typer.Exit(1) from None
    print_summary(run)


def print_summary(run) -> None:
    console.print(f"\nRun directory: {run.run_dir}")
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
        m = run.blessing["overall_metrics"]
        console.print(f"Evaluation: [bold]{run.blessing['decision']}[/bold]  AUC {m.get('auc', float('nan')):.4f}  "
                      f"accuracy {m.get('binary_accuracy', float('nan')):.4f}  precision {m.get('precision', 0):.4f}  "
                      f"recall {m.get('recall', 0):.4f}  on {int(m.get('example_count', 0))} eval examples")
        for reason in run.blessing.get("reasons", []):
            console.print(f"  not blessed because {reason}")
    if run.push:
        if run.push["pushed"]:
            console.print(f"Pushed version {run.push['version']} to {run.push['destination']}")
        else:
            console.print(f"Nothing pushed: {run.push['reason']}")
    console.print(f"Total wall time {run.seconds:.1f}s")


if __name__ == "__main__":
    app()
