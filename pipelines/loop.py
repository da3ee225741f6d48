"""`make loop` / `tabml loop`: the whole loop on one machine, each stage printed as it ends.

  1 train v1        the training pipeline (kfp.local) on the configured data; the Pusher
                    creates the InferenceService on the Kubernetes API stand-in
  2 serve           a predictor for what the InferenceService serves; requests over HTTP
  3 unshifted       live rows the model never saw, as they are: the monitor says ok
  4 shifted, small  a few rows with one feature shifted: too small a window to judge
  5 shifted         a full window of them: skew and drift, decision retrain; the trigger
                    records a training run (target local) on the data plus the window's
                    labelled rows, with the reason; 5b: the same signal again is held back
                    by the cooldown
  6 retrain         the recorded run, started here (pipelines/retrain.py); the new model
                    meets the champion/challenger and fairness gates; if
                    blessed, the Pusher rolls it out as a canary on the stand-in
  7 canary          traffic split as Knative would; the canary analysis compares canary and
                    stable and promotes or rolls back through the rollout library

The live traffic is v1's eval split (rows it never trained on; shuffled, since the example's
file is ordered), and its labels are written as the ground truth "arriving later", joined by
request id. The shift multiplies one numeric feature by a factor (default: the config's first
numeric feature, x 3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from contracts.artifacts import EXAMPLE_GEN_SUMMARY
from contracts.config import PipelineConfig
from contracts.registry import METADATA_FILE
from pipelines.local_run import LocalRun, run_local
from pipelines.local_serving import LocalKServe, serverless_template, write_labels
from pipelines.monitoring_pipeline import run_monitor_local
from pipelines.retrain import start_local_retrain

console = Console(soft_wrap=True)  # long paths and reasons stay whole in logs
NAMESPACE = "tabml-loop"


class LoopError(RuntimeError):
    """A stage could not run; says which and why."""


@dataclass(frozen=True)
class LoopPlan:
    shift_feature: str = ""  # "": the config's first numeric feature
    shift_factor: float = 3.0
    unshifted_rows: int = 1000
    small_rows: int = 60
    shifted_rows: int = 1500
    canary_rows: int = 1000
    canary_percent: int = 20
    seed: int = 7


@dataclass
class Stage:
    name: str
    outcome: str
    seconds: float
    details: list[str] = field(default_factory=list)


class Loop:
    def __init__(self, config: PipelineConfig, workdir: Path, plan: LoopPlan):
        self.plan, self.workdir = plan, workdir
        self.stages: list[Stage] = []
        self.registry = workdir / "registry"
        name = config.model_name.replace("_", "-").lower()
        data = config.model_dump(mode="json", exclude_none=True)
        data["push"] = {
            "registry": str(self.registry),
            "kserve": {
                "namespace": NAMESPACE,
                "name": name,
                "canary_percent": plan.canary_percent,
                "template": str(serverless_template(self._mkdir(workdir) / "inferenceservice.yaml")),
                "ready_timeout_s": 60,
            },
        }
        self.config = PipelineConfig.model_validate(data)
        self.serving = LocalKServe(workdir, NAMESPACE, name, config.model_name)

    @staticmethod
    def _mkdir(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- data --------------------------------------------------------------------------------------
    def eval_rows(self, run: LocalRun) -> pd.DataFrame:
        """The eval split v1's ExampleGen wrote (rows v1 never trained on), as a client would send
        them: every feature, a value it does not have as 0 or "" (the predictor refuses nulls; the
        monitor counts these fills as missing, as training did), and the label kept beside."""
        import glob

        import tensorflow as tf

        examples = run.artifacts["example-gen"]["examples"]
        files = sorted(glob.glob(os.path.join(examples, "Split-eval", "*")))
        names = [f.name for f in self.config.features] + [self.config.label.name]
        records = []
        for raw in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            feature = tf.train.Example.FromString(raw).features.feature
            record = {}
            for name in names:
                value = feature[name] if name in feature else None
                kind = value.WhichOneof("kind") if value is not None else None
                items = list(getattr(value, kind).value) if kind else []
                first = items[0] if items else None
                record[name] = first.decode() if isinstance(first, bytes) else first
            records.append(record)
        if not records:
            raise LoopError(f"{examples}: no eval rows to replay")
        rows = pd.DataFrame.from_records(records)
        for name in rows.columns:  # absent from an example: missing; the kind is the column's
            text = rows[name].map(lambda v: isinstance(v, str)).any()
            rows[name] = rows[name].fillna("" if text else 0)
        return rows.sample(frac=1.0, random_state=self.plan.seed).reset_index(drop=True)

    def shift_feature(self, rows: pd.DataFrame) -> str:
        numeric = [f.name for f in self.config.features if pd.api.types.is_numeric_dtype(rows[f.name])]
        name = self.plan.shift_feature or (numeric[0] if numeric else "")
        if name not in numeric:
            raise LoopError(f"the shift needs a numeric feature; {name or 'none'} of {numeric} (--shift-feature)")
        return name

    def shifted(self, rows: pd.DataFrame) -> pd.DataFrame:
        out = rows.copy()
        name = self.shift_feature(rows)
        moved = out[name] * self.plan.shift_factor
        # An integer feature stays integral: the predictor refuses 2.5 for an int64 input.
        out[name] = moved.round().astype(out[name].dtype) if pd.api.types.is_integer_dtype(out[name]) else moved
        return out

    # -- stages ------------------------------------------------------------------------------------
    def _stage(self, name: str, outcome: str, started: float, details: list[str]) -> Stage:
        stage = Stage(name, outcome, time.monotonic() - started, details)
        self.stages.append(stage)
        console.rule(f"[bold]{name}[/bold]: {outcome}  ({stage.seconds:.0f} s)")
        for line in details:
            console.print(f"  {line}")
        return stage

    def train(self, name: str, start) -> LocalRun:
        started = time.monotonic()
        console.print(f"[dim]{name}: the training pipeline under kfp.local ...[/dim]")
        run = start()
        blessing = run.blessing or {}
        push = run.push or {}
        details = [f"run {run.run_dir}"]
        summary = _read(run.artifacts["example-gen"]["examples"], EXAMPLE_GEN_SUMMARY)
        if summary.get("extra_rows_read"):
            details.append(
                f"data: {summary['rows_read']:,} rows, {summary['extra_rows_read']:,} of them the labelled window's"
            )
        if push.get("pushed") and (reason := _read(push["destination"], METADATA_FILE).get("run_reason")):
            details.append(f"run reason (in the version's {METADATA_FILE}): {reason}")
        details += _evaluation_lines(blessing)
        if push.get("pushed"):
            kserve = push.get("kserve") or {}
            details.append(f"pushed version {push['version']} to {push.get('destination', '')}")
            details.append(f"InferenceService {NAMESPACE}/{self.serving.name}: {kserve.get('action', '?')}")
        outcome = f"version {push['version']} pushed" if push.get("pushed") else "nothing pushed"
        self._stage(name, outcome, started, details)
        return run

    def replay(self, name: str, rows: pd.DataFrame) -> tuple[str, str, Path]:
        """Sends rows through HTTP; returns the window [start, end) and the labels file."""
        start = _iso(dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1))
        result = self.serving.replay(rows, self.config.label.name, seed=self.plan.seed + len(self.stages))
        time.sleep(0.01)
        end = _iso(dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=1))
        labels = write_labels(result.labels, self.workdir / "labels" / f"{_slug(name)}.csv")
        split = ", ".join(f"{_version(uri)}: {n:,}" for uri, n in result.by_storage_uri.items())
        console.print(
            f"  [dim]replayed {result.requests:,} requests in {result.seconds:.1f} s "
            f"({result.requests / max(result.seconds, 1e-9):,.0f}/s; by version {split}; failed {result.failed})[/dim]"
        )
        return start, end, labels

    def monitor(self, name: str, rows: pd.DataFrame) -> dict:
        started = time.monotonic()
        start, end, labels = self.replay(name, rows)
        run = run_monitor_local(
            self.config,
            self.workdir / "monitor_runs",
            str(self.serving.request_log),
            start=start,
            end=end,
            labels=str(labels),
            retrain_target="local",
            cooldown_hours=24.0,
        )
        decision = _read(run.artifacts["monitor"]["decision"], "decision.json")
        trigger = _read(run.artifacts["retrain-trigger"]["result"], "retrain.json")
        details = decision["reasons"] + [f"note: {n}" for n in decision.get("notes", [])]
        details += [f"retrain trigger: {trigger['reason']}", f"report: {run.artifacts['monitor'].get('report', '')}"]
        said = "retrain started" if trigger["triggered"] else trigger["reason"].split(":")[0]
        self._stage(name, f"{decision['decision']}; trigger: {said}", started, details)
        return {"decision": decision, "trigger": trigger, "run": run, "labels": labels, "window": (start, end)}

    def canary(self, rows: pd.DataFrame) -> dict:
        from pipelines.canary import analyse_and_act

        started = time.monotonic()
        split = self.serving.traffic()
        console.print(f"  [dim]traffic: {', '.join(f'{_version(u)} {p}%' for u, p in split)}[/dim]")
        start, end, labels = self.replay("canary", rows)
        result = analyse_and_act(
            self.config,
            str(self.serving.request_log),
            act=True,
            output_dir=str(self.workdir / "canary"),
            start=start,
            end=end,
            labels=str(labels),
            model_registry=str(self.registry),
        )
        after = ", ".join(f"{_version(u)} {p}%" for u, p in self.serving.traffic())
        details = [f"- {r}" for r in result.reasons]
        details += [f"action: {result.action}; traffic now {after}", f"analysis: {self.workdir}/canary/analysis"]
        outcome = f"{result.decision}: canary {result.canary_version} vs stable {result.stable_version}"
        self._stage("7 canary analysis", outcome, started, details)
        return {"result": result}

    # -- the whole loop ----------------------------------------------------------------------------
    def run(self) -> list[Stage]:
        plan = self.plan
        console.print(
            f"Loop in {self.workdir}: v1 trains on {self.config.data.source}; its eval split is the live traffic; "
            f"the shift: {plan.shift_feature or 'the first numeric feature'} x {plan.shift_factor:g}"
        )
        with self.serving:
            os.environ["KUBECONFIG"] = self.serving.kubeconfig  # the Pusher's subprocess reaches the stand-in
            v1 = self.train("1 train v1", lambda: run_local(self.config, self.workdir / "runs"))
            if not (v1.push or {}).get("pushed"):
                raise LoopError("v1 was not pushed: see the evaluation above")
            live = self.eval_rows(v1)
            needed = plan.unshifted_rows + plan.small_rows + plan.shifted_rows
            if len(live) < needed:
                raise LoopError(f"v1's eval split has {len(live):,} rows; the loop replays {needed:,}")
            edges = np.cumsum([0, plan.unshifted_rows, plan.small_rows, plan.shifted_rows])
            unshifted, small, shifted = (live.iloc[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True))
            started = time.monotonic()
            serving = self.serving.predictor(self.serving.traffic()[0][0])
            self._stage(
                "2 serve v1", serving.url, started, [f"{len(live):,} eval rows to replay", f"log {serving.log}"]
            )
            self.monitor("3 unshifted traffic", unshifted)
            self.monitor("4 shifted traffic, small window", self.shifted(small))
            judged = self.monitor("5 shifted traffic", self.shifted(shifted))
            trigger = judged["trigger"]
            if not trigger["triggered"]:
                console.print("[yellow]no retrain was triggered: the loop ends here[/yellow]")
                return self.stages
            # The signal persists (the same shift, more requests): the cooldown holds a second run back.
            self.monitor("5b shifted traffic again", self.shifted(shifted.iloc[: plan.small_rows * 5]))
            v2 = self.train("6 retrain", lambda: start_local_retrain(self.config, trigger, self.workdir / "runs"))
            if (v2.push or {}).get("pushed"):
                # Rows neither model trained on (the unshifted window's), shifted like the rest.
                self.canary(self.shifted(unshifted).iloc[: plan.canary_rows])
            else:
                console.print("[yellow]the retrained model was not blessed: nothing to canary[/yellow]")
        return self.stages


def _evaluation_lines(blessing: dict) -> list[str]:
    """The gates the model met or missed: value and change thresholds, the fairness gate."""
    lines = [f"evaluation: {blessing.get('decision', '?')}" + "".join(f"; {r}" for r in blessing.get("reasons", []))]
    for check in blessing.get("checks", []):
        bounds = [f">= {check['lower_bound']:g}"] if check.get("lower_bound") is not None else []
        bounds += [f"<= {check['upper_bound']:g}"] if check.get("upper_bound") is not None else []
        verdict = "passed" if check["passed"] else "FAILED"
        lines.append(f"  {check['metric']} {check['value']:.4f} ({' and '.join(bounds)}): {verdict}")
    baseline = (blessing.get("baseline") or {}).get("version")
    for check in blessing.get("change_checks", []):
        verdict = "passed" if check["passed"] else "FAILED"
        lines.append(
            f"  against the champion v{baseline}: {check['metric']} {check['candidate']:.4f} vs "
            f"{check['baseline']:.4f} ({check['change']:+.4f}, allowed {check['absolute']:+g}): {verdict}"
        )
    gate = blessing.get("fairness_check") or {}
    if gate.get("gap") is not None:
        verdict = "passed" if gate.get("passed", True) else "FAILED"
        lines.append(
            f"  fairness gate: {gate.get('metric', '')} gap {gate['gap']:.4f} over {gate.get('feature', '')} "
            f"(max {gate.get('max_gap', '')}): {verdict}"
        )
    return lines


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slug(name: str) -> str:
    return "-".join(name.lower().replace(",", "").split())


def _version(storage_uri: str) -> str:
    return f"v{Path(storage_uri).name}"


def _read(directory: str, name: str) -> dict:
    return json.loads((Path(directory) / name).read_text())


def summary_table(stages: list[Stage]) -> Table:
    table = Table(title="The loop")
    for column in ("stage", "outcome", "seconds"):
        table.add_column(column)
    for stage in stages:
        table.add_row(stage.name, stage.outcome, f"{stage.seconds:.0f}")
    return table


def run_loop(config: PipelineConfig, workdir: Path, plan: LoopPlan = LoopPlan(), fresh: bool = True) -> list[Stage]:
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    loop = Loop(config, workdir.resolve(), plan)
    stages = loop.run()
    console.print(summary_table(stages))
    (workdir / "summary.json").write_text(
        json.dumps(
            [
                {"stage": s.name, "outcome": s.outcome, "seconds": round(s.seconds, 1), "details": s.details}
                for s in stages
            ],
            indent=2,
        )
    )
    return stages
