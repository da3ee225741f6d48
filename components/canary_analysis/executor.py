"""CanaryAnalysis: canary vs stable over a request window (RequestWindow's output), the decision
(promote | rollback | inconclusive) with its numbers and reasons, and, with `act`, that decision
carried out through the rollout library (IsvcRollout.promote / rollback(restore=True)).

Where the two versions' requests come from depends on KServe's deployment mode
(serving/README.md, the rollout section):
  Serverless     both revisions serve at once, each logging its own model_version: one window
                 holds both; the canary is its newest version, the stable the other one.
  RawDeployment  no traffic split: the new version serves everything once rolled over, so the
                 stable side is the previous version's own window (`baseline_window`).

The checks (checks.py): request volume (too few on either side -> inconclusive, nothing done),
error rate, prediction distribution, live quality where labels arrived, latency where the log
has it. Any failed -> rollback; else promote. Writes analysis.json and analysis.md to `analysis`.

Acting reads the InferenceService first and refuses when it no longer runs the analysed canary
(its tabml.dev/model-version annotation names another version): the window is then about a
rollout that is over, and promoting or rolling back would hit the wrong model.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

import pandas as pd
import tensorflow as tf

from components.canary_analysis import checks
from components.canary_analysis.checks import FAILED, NOT_JUDGED, Check, Side
from components.common.io import log, read_json, write_json
from contracts.config import PipelineConfig
from contracts.executor import ExecutorResult
from contracts.monitoring import MODEL_VERSION, PREDICTION, REJECTED_BY_VERSION, REQUEST_ID, WINDOW_CSV, WINDOW_SUMMARY

PROMOTE, ROLLBACK, INCONCLUSIVE = "promote", "rollback", "inconclusive"
ANALYSIS_JSON, ANALYSIS_MD = "analysis.json", "analysis.md"


class CanaryError(ValueError):
    """Windows or a target that cannot be analysed or acted on; says what to give instead."""


@dataclass(frozen=True)
class Inputs:
    window: str  # RequestWindow's output: window.csv + window.json (holding the canary's requests)
    # The stable version's own window (RawDeployment: the previous version's); "": `window`.
    baseline_window: str = ""
    canary_version: str = ""  # "": the InferenceService's tabml.dev/model-version when acting, else the newest
    stable_version: str = ""  # "": the other version of the (baseline) window
    act: bool = False  # promote / roll back through the rollout; False: record what it would do
    namespace: str = ""  # the InferenceService; "": config.push.kserve
    name: str = ""


@dataclass(frozen=True)
class Outputs:
    analysis: str  # a directory: analysis.json + analysis.md


@dataclass
class Result(ExecutorResult):
    decision: str  # promote | rollback | inconclusive
    reasons: list[str]
    canary_version: str
    stable_version: str
    requests: dict[str, int]  # served requests per side
    action: str  # what was done: promoted, restored, ..., "dry run: would ...", "nothing"
    checks: list[dict] = field(default_factory=list)
    rollout: dict | None = None  # the rollout's result (its patches included) when it acted


# ------------------------------------------------------------------------------------ windows


def read_window(path: str, config: PipelineConfig) -> tuple[pd.DataFrame, dict]:
    csv, summary = os.path.join(path, WINDOW_CSV), os.path.join(path, WINDOW_SUMMARY)
    if not tf.io.gfile.exists(summary) or not tf.io.gfile.exists(csv):
        raise CanaryError(
            f"{path} is not a request window (no {WINDOW_SUMMARY} and {WINDOW_CSV}): give RequestWindow's output "
            "for the canary's time (tabml canary builds one from a request log)"
        )
    info = read_json(summary)
    text = {MODEL_VERSION: str, REQUEST_ID: str, config.label.name: str}
    if (info.get("prediction") or {}).get("kind") == "class":
        text[PREDICTION] = str
    with tf.io.gfile.GFile(csv) as f:
        rows = pd.read_csv(f, dtype=text, keep_default_na=False, na_values=[""])
    return rows, info


def _newest(versions: list[str], where: str) -> str:
    if not all(v.isdigit() for v in versions):
        raise CanaryError(f"{where}: versions {versions} are not all registry versions; name the canary_version")
    return max(versions, key=int)


def _pick_versions(inputs: Inputs, window: pd.DataFrame, baseline: pd.DataFrame) -> tuple[str, str]:
    in_window = sorted(window[MODEL_VERSION].dropna().unique())
    canary = inputs.canary_version or _newest(in_window, inputs.window)
    if inputs.stable_version:
        return canary, inputs.stable_version
    others = baseline[MODEL_VERSION].value_counts().drop(canary, errors="ignore")
    if others.empty:
        raise CanaryError(
            f"{inputs.baseline_window or inputs.window} holds no requests of a version other than the canary "
            f"{canary}: nothing to compare with. In RawDeployment (no traffic split) give the previous version's "
            "window as baseline_window; else name stable_version"
        )
    if len(others) > 1 and not inputs.baseline_window:
        raise CanaryError(
            f"{inputs.window} holds versions {in_window}: name the stable_version to compare canary {canary} with"
        )
    return canary, str(others.index[0])  # a baseline window: its most-served other version


def _side(version: str, rows: pd.DataFrame, info: dict, where: str) -> Side:
    mine = rows[rows[MODEL_VERSION] == version].reset_index(drop=True)
    by_version = info.get(REJECTED_BY_VERSION)
    if isinstance(by_version, dict):
        return Side(version, mine, int(by_version.get(version, 0)), f"{where}: {REJECTED_BY_VERSION}")
    versions = info.get("model_versions") or {}
    if set(versions) <= {version}:  # the whole window is this version's: so are its rejected requests
        return Side(version, mine, int(info.get("rejected", 0)), f"{where}: all of its rejected requests")
    why = (
        f"{where} counts rejected requests only in total ({info.get('rejected', 0):,}), not per model version, "
        f"and holds versions {sorted(versions)}"
    )
    return Side(version, mine, None, why)


# ------------------------------------------------------------------------------------ decision


def decide(found: list[Check]) -> tuple[str, list[str]]:
    by_name = {c.name: c for c in found}
    if by_name["volume"].verdict == NOT_JUDGED:
        return INCONCLUSIVE, [f"inconclusive: {by_name['volume'].detail}"]
    failed = [f"{c.name}: {c.detail}" for c in found if c.verdict == FAILED]
    if failed:
        return ROLLBACK, failed
    reasons = [f"{c.name}: {c.detail}" for c in found if c.name != "volume"]
    return PROMOTE, reasons


def analyse(config: PipelineConfig, inputs: Inputs, canary_version: str = "") -> tuple[Side, Side, list[Check]]:
    window, info = read_window(inputs.window, config)
    baseline, base_info = read_window(inputs.baseline_window, config) if inputs.baseline_window else (window, info)
    picked = replace(inputs, canary_version=inputs.canary_version or canary_version)
    canary_v, stable_v = _pick_versions(picked, window, baseline)
    if canary_v == stable_v:
        raise CanaryError(f"canary and stable are the same version {canary_v}")
    canary = _side(canary_v, window, info, inputs.window)
    stable = _side(stable_v, baseline, base_info, inputs.baseline_window or inputs.window)
    cfg = config.monitoring.canary_analysis
    found = [checks.volume(canary, stable, cfg)]
    if found[0].verdict != NOT_JUDGED:
        kind = (info.get("prediction") or {}).get("kind", "number")
        found += [
            checks.error_rate(canary, stable, cfg),
            checks.predictions(canary, stable, cfg, kind),
            checks.quality(canary, stable, cfg, config.label),
            checks.latency(canary, stable, cfg),
        ]
    return canary, stable, found


# ------------------------------------------------------------------------------------ acting


def _rollout(config: PipelineConfig, inputs: Inputs):
    from rollout import IsvcRollout, custom_objects_api

    target = config.push.kserve
    namespace = inputs.namespace or (target.namespace if target else "")
    name = inputs.name or (target.name if target else "")
    if not namespace or not name:
        raise CanaryError(
            "act: no InferenceService to act on: set push.kserve in the config or give namespace and name"
        )
    return IsvcRollout(custom_objects_api(), namespace, name)


def _served_version(rollout) -> str:
    from rollout import ANNOTATION_VERSION, RolloutError

    isvc = rollout.get()
    if isvc is None:
        raise RolloutError(f"InferenceService {rollout.namespace}/{rollout.name} does not exist")
    return (isvc["metadata"].get("annotations") or {}).get(ANNOTATION_VERSION, "")


def carry_out(decision: str, rollout, canary_version: str) -> tuple[str, dict | None]:
    served = _served_version(rollout)
    if served and served != canary_version:
        raise CanaryError(
            f"InferenceService {rollout.namespace}/{rollout.name} now runs version {served}, not the analysed "
            f"canary {canary_version}: its rollout has moved on; analyse a window of {served} instead"
        )
    result = rollout.promote() if decision == PROMOTE else rollout.rollback(restore=True)
    return result.action, asdict(result)


# ------------------------------------------------------------------------------------ run


def run(config: PipelineConfig, inputs: Inputs, outputs: Outputs) -> Result:
    rollout = _rollout(config, inputs) if inputs.act else None
    served = _served_version(rollout) if rollout and not inputs.canary_version else ""
    canary, stable, found = analyse(config, inputs, served)
    decision, reasons = decide(found)
    action = "nothing"
    if decision != INCONCLUSIVE:
        what = "promote" if decision == PROMOTE else "roll back (restoring the previous storage URI)"
        action = f"dry run: would {what}"
    result = Result(
        decision=decision,
        reasons=reasons,
        canary_version=canary.version,
        stable_version=stable.version,
        requests={"canary": canary.requests, "stable": stable.requests},
        action=action,
        checks=[asdict(c) for c in found],
    )
    _write(outputs, inputs, result)  # recorded before acting: a failed rollout still leaves the analysis
    if rollout is not None and decision != INCONCLUSIVE:
        result.action, result.rollout = carry_out(decision, rollout, canary.version)
        _write(outputs, inputs, result)
    log.info("CanaryAnalysis: %s canary %s vs %s: %s", decision, canary.version, stable.version, "; ".join(reasons))
    return result


def summary_markdown(result: Result) -> str:
    lines = [
        f"# Canary analysis: {result.decision}",
        "",
        f"Canary {result.canary_version} ({result.requests['canary']:,} requests) vs stable "
        f"{result.stable_version} ({result.requests['stable']:,} requests). Action: {result.action}.",
        "",
        "| check | verdict | detail |",
        "|---|---|---|",
    ]
    lines += [f"| {c['name']} | {c['verdict']} | {c['detail'].replace('|', '/')} |" for c in result.checks]
    lines += ["", "Reasons:", ""] + [f"- {r}" for r in result.reasons]
    return "\n".join(lines) + "\n"


def _write(outputs: Outputs, inputs: Inputs, result: Result) -> None:
    tf.io.gfile.makedirs(outputs.analysis)
    write_json(os.path.join(outputs.analysis, ANALYSIS_JSON), result.to_dict() | {"inputs": asdict(inputs)})
    with tf.io.gfile.GFile(os.path.join(outputs.analysis, ANALYSIS_MD), "w") as f:
        f.write(summary_markdown(result))
