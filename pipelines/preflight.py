"""What can be checked before a run without reading the data: the curated schema against the
config (features, label type, slices, the gate's feature), the user's code (the module file
exists, imports, and defines the named functions), and whether the data source names files."""

from __future__ import annotations

from components.common.io import resolve_files
from components.common.readers import SchemaError, load_schema
from components.common.user_code import UserCodeError, load_function
from components.schema_gen.executor import check_schema_covers_config
from contracts.config import PipelineConfig


class PreflightError(ValueError):
    """A config that would fail once running; the message names the field and the fix."""


def check_schema(config: PipelineConfig) -> str:
    path = config.validation.schema_path
    try:
        schema = load_schema(path)
        check_schema_covers_config(schema, config, path)
    except SchemaError as err:
        raise PreflightError(str(err)) from None
    names = {f.name for f in schema.feature}
    for i, features in enumerate(config.evaluation.slices):
        unknown = [f for f in features if f not in names]
        if unknown:
            raise PreflightError(f"evaluation.slices[{i}]: {unknown} are not in the schema {path}")
    gate = config.evaluation.fairness_gate
    if gate and gate.feature not in names:
        raise PreflightError(f"evaluation.fairness_gate.feature '{gate.feature}' is not in the schema {path}")
    return f"schema {path}: covers the {len(config.features)} features, the label and the slices"


def check_user_code(config: PipelineConfig) -> list[str]:
    code, notes = config.user_code, []
    for field in ("preprocessing_fn", "run_fn"):
        if getattr(code, field):
            try:
                load_function(code, field)
            except UserCodeError as err:
                raise PreflightError(str(err)) from None
            notes.append(
                f"user_code.{field}: {getattr(code, field)}" + (f" in {code.module_file}" if code.module_file else "")
            )
    return notes


def check_beam(config: PipelineConfig) -> list[str]:
    """Every configured runner's args through Beam's own option parser (types, choices, flags
    its runners know); what needs the cloud (buckets, quotas) is checked by Dataflow itself."""
    from components.common.beam import BeamArgsError, validate_beam_args  # Beam: 2 s of imports

    notes = []
    for runner in ("direct", "dataflow", "flink", "portable"):
        if runner == "direct" or getattr(config.beam, runner) is not None:
            try:
                args = validate_beam_args(config.beam.args(runner), origin=f"beam.{runner}")
            except BeamArgsError as err:
                raise PreflightError(str(err)) from None
            where = "local runs" if runner == "direct" else "a compiled variant"
            if runner == config.beam.runner:
                where += (", " if runner == "direct" else " and ") + "the cluster variants"
            notes.append(f"beam.{runner} ({where}): {' '.join(args)}")
    return notes


def preflight(config: PipelineConfig) -> list[str]:
    """Raises PreflightError on what cannot work; returns notes on what was checked."""
    notes = check_beam(config)
    if config.validation.schema_path:
        notes.append(check_schema(config))
    else:
        notes.append("schema: inferred from the train split at run time (validation.schema_path is empty)")
    notes += check_user_code(config)
    try:
        files = resolve_files(config.data.source)
        notes.append(f"data.source: {len(files)} file(s)")
    except FileNotFoundError as err:
        notes.append(f"warning: {err} (a --data-source given at run time may name other files)")
    return notes
