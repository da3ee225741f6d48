"""The evaluation report on real Evaluator runs of the session's three trained models (binary
taxi, multiclass penguins, regression auto_mpg), written by the executor as the pipeline writes
it: the page opens in headless Chromium (Debian's package) without console errors and needs no
network; each task has its section with the blessing's numbers in the report's one format; the
headline names every check that ran (value, change against a baseline version, the fairness
gate) or says why one did not, and a gate with nothing to measure says so; rates are drawn on
one 0-1 axis, regression errors on an axis from 0 in the label's units; the data section shows
what the run read (the run's data_source, not the config's) with ExampleGen's warnings and the
validator's non-blocking anomalies; the KFP ROC/confusion-matrix curves agree with the model's
own predictions; the report site indexes runs of every task."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from components.evaluator import executor as evaluator
from components.evaluator.report import fmt, headline_metrics, rate_title
from components.evaluator.tfma_config import binary_curves
from components.example_gen import executor as example_gen
from components.example_validator import executor as validator
from components.pusher.executor import push_model
from components.statistics_gen import executor as statistics_gen
from contracts.config import PipelineConfig
from contracts.metrics import FAIRNESS_PREFIX, METRICS, per_class_key
from contracts.registry import TRAINING_STATS
from tests.conftest import taxi_config

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # any network fetch would fail loudly
    "--enable-logging=stderr",
    "--v=0",
]


def open_in_chromium(path, tmp_path) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, the console errors)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make setup-browser` installs Debian's package")
    out = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"file://{path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    errors = [
        line for line in out.stderr.splitlines() if "CONSOLE" in line and re.search(r"error|uncaught", line, re.I)
    ]
    return out.stdout, errors


# ------------------------------------------------------------------------------------- helpers


@dataclass
class ReportRun:
    """One Evaluator run with its report: outputs under root, blessing.json as written."""

    root: Path
    config: PipelineConfig
    result: object  # the executor's Blessing
    blessing: dict
    examples: Path

    @property
    def html(self) -> str:
        return (self.root / "report.html").read_text()

    @property
    def markdown(self) -> str:
        return (self.root / "summary.md").read_text()


def run_report(
    chain,
    config: PipelineConfig,
    root: Path,
    examples: Path,
    statistics: Path,
    anomalies: Path,
    registry: str | Path = "",
) -> ReportRun:
    """The Evaluator as the pipeline runs it: report and Markdown summary written by the executor."""
    result = evaluator.run(
        config,
        evaluator.Inputs(
            examples=str(examples),
            schema=str(chain.schema),
            model=str(chain.model),
            statistics=str(statistics),
            anomalies=str(anomalies),
            model_registry=str(registry),
        ),
        evaluator.Outputs(
            evaluation=str(root / "evaluation"),
            blessing=str(root / "blessing"),
            report=str(root / "report.html"),
            summary=str(root / "summary.md"),
        ),
    )
    blessing = json.loads((root / "blessing" / "blessing.json").read_text())
    return ReportRun(root, config, result, blessing, examples)


def validate(config, statistics: Path, schema: Path, out: Path, registry: str | Path = "") -> Path:
    validator.run(
        config,
        validator.Inputs(statistics=str(statistics), schema=str(schema), model_registry=str(registry)),
        validator.Outputs(anomalies=str(out)),
    )
    return out


def examples_from(config, frame: pd.DataFrame, root: Path) -> tuple[Path, Path]:
    """ExampleGen (the frame as the run's data_source) and StatisticsGen: (examples, statistics)."""
    csv = root / "input.csv"
    frame.to_csv(csv, index=False)
    example_gen.run(config, example_gen.Inputs(data_source=str(csv)), example_gen.Outputs(examples=str(root / "ex")))
    statistics_gen.run(
        config, statistics_gen.Inputs(examples=str(root / "ex")), statistics_gen.Outputs(statistics=str(root / "st"))
    )
    return root / "ex", root / "st"


def element(page: str, element_id: str) -> str:
    """The inner HTML of the element with this id (tables, lists, sections: no nesting of the same tag)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert m, f"no element with id {element_id}"
    return m.group(2)


def text(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """Body rows of a table as cell texts."""
    body = re.search(r"<tbody>(.*?)</tbody>", element(page, table_id), re.S).group(1)
    return [
        [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def _attrs(tag: str) -> dict[str, str]:
    return {k: htmllib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def chart_ids(page: str, prefix: str = "chart-") -> list[str]:
    return re.findall(rf'<div class="chart" id="({re.escape(prefix)}[^"]*)"', page)


def chart_bars(page: str, chart_id: str) -> tuple[dict, list[dict]]:
    """A chart's axis ({x1, x2, data-max}) and bars ({x, width, data-value, data-group, data-series})."""
    svg = re.search(rf'<div class="chart" id="{re.escape(chart_id)}"><svg.*?</svg>', page, re.S).group(0)
    axis = _attrs(re.search(r'<line class="axis"[^>]*>', svg).group(0))
    bars = [_attrs(tag) for tag in re.findall(r'<rect class="bar"[^>]*>', svg)]
    return axis, bars


def assert_bars_on_axis(page: str, chart_id: str, axis_max: float | None = None) -> list[dict]:
    """Every bar starts at the axis' 0 and is value / axis max of the axis' width long."""
    axis, bars = chart_bars(page, chart_id)
    width = float(axis["x2"]) - float(axis["x1"])
    top = float(axis["data-max"])
    if axis_max is not None:
        assert top == axis_max, chart_id
    assert bars, chart_id
    for bar in bars:
        value = float(bar["data-value"])
        assert float(bar["x"]) == float(axis["x1"])
        assert float(bar["width"]) == pytest.approx(value / top * width, abs=0.01), (chart_id, bar)
    return bars


# ------------------------------------------------------------------------------------- runs

SLICES = [["payment_type"], ["trip_start_hour"], ["trip_start_hour", "payment_type"]]
FAIRNESS_THRESHOLDS = [0.3, 0.5, 0.7]


def report_config(root: Path, **gate) -> PipelineConfig:
    """The shipped taxi config (data.source: the shipped CSV), its registry under root, and a
    fairness gate on trip_start_hour that no real model passes (no gap allowed)."""
    return taxi_config(
        root,
        evaluation={
            "slices": SLICES,
            "min_slice_size": 5,
            "fairness_thresholds": FAIRNESS_THRESHOLDS,
            "value_thresholds": {"AUC": {"lower_bound": 0.6}},
            "change_thresholds": {"AUC": {"direction": "higher_is_better", "absolute": -0.01}},
            "fairness_gate": {
                "feature": "trip_start_hour",
                "metric": "false_negative_rate",
                "threshold": 0.5,
                "max_gap": 0.0,
                "min_examples": 10,
            }
            | gate,
        },
    )


@pytest.fixture(scope="module")
def taxi_rows(small_csv) -> pd.DataFrame:
    return pd.read_csv(small_csv, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def first_run(chain, taxi_rows, tmp_path_factory) -> ReportRun:
    """A first run (empty registry) on a data_source other than the config's: the small sample
    with a column the schema does not know and 7 duplicated rows."""
    root = tmp_path_factory.mktemp("report_first")
    config = report_config(root)
    frame = taxi_rows.assign(driver_rating="5")
    frame = pd.concat([frame, frame.iloc[:7]], ignore_index=True)
    examples, statistics = examples_from(config, frame, root)
    anomalies = validate(config, statistics, chain.schema, root / "anomalies")
    return run_report(chain, config, root, examples, statistics, anomalies)


@pytest.fixture(scope="module")
def baseline_run(chain, taxi_rows, tmp_path_factory) -> ReportRun:
    """Against a baseline (the same model, pushed with its training statistics), on data whose
    company names are mostly new (DISTINCT_VALUES_GROWTH), with a gate on payment_type: cash
    tips are not recorded, so Cash has no false negative rate and only one group is left."""
    root = tmp_path_factory.mktemp("report_baseline")
    config = report_config(root, feature="payment_type")
    registry = root / "registry"
    push_model(
        str(chain.model / "Format-Serving"),
        str(registry),
        config.model_name,
        {"task": "binary", "label": {"task": "binary", "classes": ["negative", "positive"]}},
        extra={TRAINING_STATS: str(chain.statistics / "Split-train" / "FeatureStats.pb")},
    )
    frame = taxi_rows.copy()
    frame.loc[:1999, "company"] = [f"Company {i}" for i in range(2000)]
    examples, statistics = examples_from(config, frame, root)
    anomalies = validate(config, statistics, chain.schema, root / "anomalies", registry)
    return run_report(chain, config, root, examples, statistics, anomalies, registry)


# ------------------------------------------------------------------------------------- tests


def test_report_opens_without_console_errors_and_shows_the_decision(first_run, tmp_path):
    dom, errors = open_in_chromium(first_run.root / "report.html", tmp_path)
    assert errors == []
    assert 'data-ready="true"' in dom  # the inline script ran to its end
    assert re.search(r'id="decision"[^>]*>NOT_BLESSED<', dom)
    reasons = text(element(dom, "reasons"))
    assert "fairness gate" in reasons and "trip_start_hour" in reasons
    slice_tables = re.findall(r'<table class="sortable slice-table" id="slices-([a-z0-9-]+)"', dom)
    assert {"payment-type", "trip-start-hour"} <= set(slice_tables)
    assert {"payment-type-x-trip-start-hour", "trip-start-hour-x-payment-type"} & set(slice_tables)  # the cross slice
    assert "Credit Card" in dom and 'id="checks"' in dom and 'id="provenance"' in dom
    assert re.search(r'id="fairness-0\.5".*<svg', dom, re.S)
    assert 'data-task="binary"' in dom and 'id="task-binary"' in dom


def test_report_is_self_contained(first_run):
    page = first_run.html
    external = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', page)
    assert external == [] and "<link" not in page and "@import" not in page and "url(" not in page


def test_a_failing_script_would_be_caught(tmp_path):
    """The console check above can fail: a page that throws is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><html><body><script>throw new Error('boom')</script></body></html>")
    _, errors = open_in_chromium(page, tmp_path)
    assert errors and "boom" in errors[0]


def test_first_run_headline_names_every_check_and_the_skipped_one(first_run):
    b, page = first_run.blessing, first_run.html
    assert b["baseline"] is None and b["change_checks"] == []
    [value] = b["checks"]
    gate = b["fairness_check"]
    assert gate["measured"] and not gate["passed"] and gate["gap"] > 0
    headline = text(element(page, "headline"))
    assert headline.startswith("NOT_BLESSED. Checks applied: ")
    assert f"value thresholds: AUC ≥ 0.6000 — {'pass' if value['passed'] else 'FAIL'}" in headline
    assert (
        "fairness gate: false negative rate @ 0.5 gap across trip_start_hour ≤ 0.0000, over groups with ≥ 10 "
        "examples — FAIL"
    ) in headline
    assert "Not applied: change thresholds (first run: no blessed chicago_taxi_big_tipper in the registry" in headline
    assert "alone" not in headline
    statuses = dict(re.findall(r'<li data-check="(\w+)" data-status="([^"]+)"', element(page, "applied-checks")))
    assert statuses == {"value": "pass" if value["passed"] else "FAIL", "change": "not applied", "gate": "FAIL"}
    gate_text = text(element(page, "applied-checks"))
    assert (
        f"gap {fmt(gate['gap'])} between trip_start_hour={gate['largest']} and trip_start_hour={gate['smallest']}"
    ) in gate_text
    [gate_row] = [r for r in table_rows(page, "checks") if r[0].startswith("fairness gate")]
    assert gate_row[1] == f"gap {fmt(gate['gap'])} ({gate['largest']} vs {gate['smallest']})" and gate_row[-1] == "FAIL"


def test_baseline_run_names_the_version_and_a_gate_with_nothing_to_measure(baseline_run):
    b, page = baseline_run.blessing, baseline_run.html
    version = b["baseline"]["version"]
    [change] = b["change_checks"]
    gate = b["fairness_check"]
    counted = [g for g in gate["groups"] if g["counted"]]
    assert not gate["measured"] and gate["gap"] is None and not gate["passed"] and len(counted) == 1
    assert b["decision"] == "NOT_BLESSED"
    headline = text(element(page, "headline"))
    assert (
        f"change thresholds vs baseline version {version}: AUC change ≥ -0.0100 — "
        f"{'pass' if change['passed'] else 'FAIL'}"
    ) in headline
    assert "value thresholds: AUC ≥ 0.6000" in headline
    assert (
        "fairness gate: false negative rate @ 0.5 gap across payment_type ≤ 0.0000, over groups with ≥ 10 "
        "examples — nothing to measure, not passed"
    ) in headline
    assert "Not applied" not in headline and "first run" not in headline
    applied = text(element(page, "applied-checks"))
    assert (
        f"nothing to measure: 1 of {len(gate['groups'])} payment_type groups has ≥ 10 examples and a defined "
        "false negative rate @ 0.5; two are needed; not passed, so the blessing is withheld"
    ) in applied
    assert (
        f"AUC {fmt(change['candidate'])} vs {fmt(change['baseline'])}: {fmt(change['change'], signed=True)}" in applied
    )
    statuses = dict(re.findall(r'<li data-check="(\w+)" data-status="([^"]+)"', element(page, "applied-checks")))
    assert statuses["gate"] == "not passed" and statuses["change"] == ("pass" if change["passed"] else "FAIL")
    rows = {r[0]: r for r in table_rows(page, "checks")}
    assert rows[f"change vs baseline version {version}: AUC"][1] == (
        f"{fmt(change['candidate'])} vs {fmt(change['baseline'])} ({fmt(change['change'], signed=True)})"
    )
    gate_row = rows["fairness gate: false negative rate @ 0.5 across payment_type"]
    assert gate_row[1].startswith("nothing to measure: 1 of") and gate_row[-1] == "not passed"
    assert "nothing to measure" in text(element(page, "reasons"))
    # Candidate and baseline side by side, change signed.
    overall = {r[0]: r for r in table_rows(page, "overall")}
    auc = b["overall_metrics"]["auc"]
    assert overall["AUC"][1:] == [
        fmt(auc),
        fmt(b["baseline_metrics"]["auc"]),
        fmt(auc - b["baseline_metrics"]["auc"], signed=True),
    ]


def test_rates_are_drawn_on_one_axis_from_0_to_1(first_run):
    """A rate's bar is value x the axis' width: an FNR of 0.0085 is a sliver, not a full bar."""
    b, page = first_run.blessing, first_run.html
    charts = chart_ids(page, "chart-rates-")
    features = {"payment_type", "trip_start_hour"}
    assert {f"chart-rates-{t}-{f.replace('_', '-')}" for t in ("0.3", "0.5", "0.7") for f in features} == set(charts)
    rate_of = {rate_title(r): r for r in ("false_negative_rate", "false_positive_rate")}
    small = []
    for chart in charts:
        threshold = chart.split("-")[2]
        feature = "payment_type" if chart.endswith("payment-type") else "trip_start_hour"
        for bar in assert_bars_on_axis(page, chart, axis_max=1.0):
            key = f"{FAIRNESS_PREFIX}{rate_of[bar['data-series']]}@{threshold}"
            expected = b["slice_metrics"][f"{feature}={bar['data-group']}"][key]
            assert float(bar["data-value"]) == pytest.approx(expected, abs=1e-12)
            if 0 < expected < 0.05:
                small.append(float(bar["width"]))
    assert small and max(small) < 0.05 * 300  # the axis is 300 wide
    # The gate's chart shades the gap between the counted groups.
    assert 'class="gap-band"' in re.search(r'id="chart-rates-0\.5-trip-start-hour".*?</svg>', page, re.S).group(0)


def test_numbers_are_the_blessings_in_one_format(first_run):
    b, page = first_run.blessing, first_run.html
    overall = b["overall_metrics"]
    rows = {r[0]: r[1] for r in table_rows(page, "overall")}
    for d in METRICS["binary"]:
        kind = "count" if d.reported == "example_count" else "metric"
        assert rows[d.label] == fmt(overall[d.reported], kind)
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", rows["examples"]) and re.fullmatch(r"0\.\d{4}", rows["AUC"])
    rates = table_rows(page, "binary-rates")
    assert [r[0] for r in rates] == ["0.3", "0.5", "0.7"]
    names = ("false_positive_rate", "false_negative_rate", "true_positive_rate", "precision", "positive_rate")
    for row in rates:
        assert row[1:] == [fmt(overall[f"{FAIRNESS_PREFIX}{n}@{row[0]}"]) for n in names]
    counts = {r[0]: r for r in table_rows(page, "class-counts")}
    eval_counts = b["label"]["class_counts"]["eval"]
    assert counts["eval"][1] == fmt(sum(eval_counts.values()), "count")
    assert counts["eval"][3].startswith(fmt(eval_counts["positive"], "count"))
    # The slice tables use the same format.
    hour = {r[0]: r for r in table_rows(page, "slices-trip-start-hour")}
    m = b["slice_metrics"]["trip_start_hour=8"]
    assert hour["8"][1:3] == [fmt(m["example_count"], "count"), fmt(m["auc"])]
    # The Markdown summary too.
    md = first_run.markdown
    assert f"| AUC | {fmt(overall['auc'])} |" in md and f"| examples | {fmt(overall['example_count'], 'count')} |" in md


def test_provenance_is_what_the_run_read(first_run, baseline_run):
    b, page = first_run.blessing, first_run.html
    read = str(first_run.root / "input.csv")
    assert b["data"]["source"] == read != first_run.config.data.source
    assert first_run.config.data.source not in page  # never the config's default
    facts = text(element(page, "provenance"))
    assert f"source {read}" in facts and f"files (1) {read}" in facts
    assert f"rows read {fmt(b['data']['rows_read'], 'count')}" in facts and b["data"]["rows_read"] == 3007
    splits = ", ".join(f"{s} {fmt(n, 'count')}" for s, n in b["data"]["split_counts"].items())
    duplicates = b["data"]["duplicate_rows"]
    assert f"examples per split {splits}" in facts and f"duplicate rows {fmt(duplicates, 'count')}" in facts
    assert duplicates >= 7  # the 7 copied rows, and any the sample had
    warnings = text(element(page, "data-warnings"))
    assert any("exact duplicates of an earlier row" in w for w in b["data"]["warnings"])
    assert all(text(htmllib.escape(w)) in warnings for w in b["data"]["warnings"])
    anomalies = table_rows(page, "anomalies")
    assert ["train", "driver_rating", "SCHEMA_NEW_COLUMN"] in [r[:3] for r in anomalies]
    assert all(r[-1] == "warning" for r in anomalies) and "a column the schema does not know" in page
    assert f"`{read}`" in first_run.markdown and "- data warning: " in first_run.markdown
    # Against the baseline: the company names that jumped are listed as a warning.
    growth = [r for r in table_rows(baseline_run.html, "anomalies") if r[2] == "DISTINCT_VALUES_GROWTH"]
    assert [r[1] for r in growth] == ["company"] and growth[0][-1] == "warning"
    assert f"the training data of version {baseline_run.blessing['baseline']['version']}" in growth[0][3]


def test_markdown_summary(first_run, baseline_run):
    text_md = first_run.markdown
    assert text_md.startswith("# Evaluation of chicago_taxi_big_tipper: **NOT_BLESSED**")
    assert "Binary classification of `big_tipper`" in text_md
    assert "- **not applied** change thresholds — not applied: first run" in text_md
    assert "- **FAIL** fairness gate: false negative rate @ 0.5 gap across trip_start_hour" in text_md
    assert "not blessed: fairness gate" in text_md and "| 0.5 |" in text_md
    md = baseline_run.markdown
    version = baseline_run.blessing["baseline"]["version"]
    assert f"change thresholds vs baseline version {version}: AUC change ≥ -0.0100" in md
    assert "- **not passed** fairness gate" in md and "nothing to measure" in md
    assert "| metric | candidate | baseline | change |" in md


def eval_labels_and_probabilities(examples: Path, model: Path):
    files = tf.io.gfile.glob(str(examples / "Split-eval" / "*.gz"))
    serialized = next(iter(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(100_000)))
    labels = tf.io.parse_example(serialized, {"big_tipper": tf.io.FixedLenFeature([], tf.int64)})["big_tipper"]
    loaded = tf.saved_model.load(str(model / "Format-Serving"))
    return labels.numpy(), loaded.signatures["serving_default"](examples=serialized)["probabilities"].numpy()


@pytest.mark.parametrize("which", ["first_run", "baseline_run"])
def test_roc_and_confusion_matrix_for_the_kfp_ui(which, request, chain):
    """The curves the Evaluator's component logs as ClassificationMetrics; with a baseline TFMA
    keys its plots by model, and the candidate's must still be found."""
    run = request.getfixturevalue(which)
    curves = binary_curves(str(run.root / "evaluation"), with_baseline=run.blessing["baseline"] is not None)
    labels, probabilities = eval_labels_and_probabilities(run.examples, chain.model)
    predicted = np.ravel(probabilities) > 0.5
    tn, fp = int(((labels == 0) & ~predicted).sum()), int(((labels == 0) & predicted).sum())
    fn, tp = int(((labels == 1) & ~predicted).sum()), int(((labels == 1) & predicted).sum())
    # TFMA predicts in other batch sizes than this one call: a probability within float noise of
    # the threshold may land on the other side (seen once: one of 630 eval rows). Only those move.
    near = int((np.abs(np.ravel(probabilities) - 0.5) < 1e-4).sum())
    want = [tn, fp, fn, tp]
    moved = sum(abs(a - b) for a, b in zip(sum(curves["matrix"], []), want, strict=True))
    assert moved // 2 <= near, (curves["matrix"], want, near)
    assert [sum(row) for row in curves["matrix"]] == [tn + fp, fn + tp]  # the labels' counts exactly
    assert sum(map(sum, curves["matrix"])) == int(run.blessing["overall_metrics"]["example_count"])
    assert len(curves["fpr"]) == len(curves["tpr"]) == len(curves["thresholds"]) > 50
    assert curves["fpr"][0] == pytest.approx(1.0) and curves["tpr"][0] == pytest.approx(1.0)  # threshold ~0
    assert all(a >= b - 1e-9 for a, b in zip(curves["tpr"], curves["tpr"][1:], strict=False))  # falls as it rises


# ----------------------------------------------------------------------------------- multiclass


@pytest.fixture(scope="module")
def penguins_run(penguins_chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("report_penguins")
    anomalies = validate(penguins_chain.config, penguins_chain.statistics, penguins_chain.schema, root / "anomalies")
    return run_report(
        penguins_chain, penguins_chain.config, root, penguins_chain.examples, penguins_chain.statistics, anomalies
    )


@pytest.fixture(scope="module")
def mpg_run(mpg_chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("report_mpg")
    anomalies = validate(mpg_chain.config, mpg_chain.statistics, mpg_chain.schema, root / "anomalies")
    return run_report(mpg_chain, mpg_chain.config, root, mpg_chain.examples, mpg_chain.statistics, anomalies)


# ----------------------------------------------------------------------------------- multiclass


def test_multiclass_report_opens_and_has_its_section(penguins_run, tmp_path):
    dom, errors = open_in_chromium(penguins_run.root / "report.html", tmp_path)
    assert errors == [] and 'data-ready="true"' in dom
    assert 'data-task="multiclass"' in dom and 'id="task-multiclass"' in dom
    assert 'id="task-binary"' not in dom and 'id="task-regression"' not in dom
    assert "AUC-PR" not in dom  # no binary metric leaks into another task's report


def test_multiclass_per_class_table_and_averages(penguins_run):
    b, page = penguins_run.blessing, penguins_run.html
    overall, classes = b["overall_metrics"], b["label"]["classes"]
    assert classes == ["Adelie", "Chinstrap", "Gentoo"]
    rows = {r[0]: r for r in table_rows(page, "per-class")}
    eval_counts = b["label"]["class_counts"]["eval"]
    for c in classes:
        expected = [fmt(eval_counts[c], "count")] + [
            fmt(overall[per_class_key(k, c)])
            for k in (
                "precision",
                "recall",
                "auc",
                f"{FAIRNESS_PREFIX}false_negative_rate@0.5",
                f"{FAIRNESS_PREFIX}false_positive_rate@0.5",
            )
        ]
        assert rows[c][1:] == expected
    for agg in ("macro", "micro"):
        assert rows[f"{agg} average"][2:5] == [fmt(overall[f"{agg}_{k}"]) for k in ("precision", "recall", "auc")]
    overall_rows = {r[0]: r[1] for r in table_rows(page, "overall")}
    for d in METRICS["multiclass"]:
        assert overall_rows[d.label] == fmt(overall[d.reported], "count" if d.reported == "example_count" else "metric")


def test_multiclass_confusion_matrix(penguins_run):
    b, page = penguins_run.blessing, penguins_run.html
    matrix, classes = b["confusion_matrix"], b["label"]["classes"]
    table = element(page, "confusion-matrix")
    cells = [int(c) for c in re.findall(r'data-count="(\d+)"', table)]
    assert cells == [v for row in matrix for v in row]
    rows = {r[0]: r for r in table_rows(page, "confusion-matrix")}
    for cls, row in zip(classes, matrix, strict=True):
        assert rows[cls][-1] == fmt(sum(row), "count") == fmt(b["label"]["class_counts"]["eval"][cls], "count")
    assert rows["total"][-1] == fmt(b["overall_metrics"]["example_count"], "count")
    diagonal = sum(matrix[i][i] for i in range(len(classes)))
    assert diagonal / sum(map(sum, matrix)) == pytest.approx(b["overall_metrics"]["accuracy"], abs=1e-9)
    assert "| actual \\ predicted | Adelie | Chinstrap | Gentoo |" in penguins_run.markdown


def test_multiclass_rates_per_class_and_group_on_one_axis(penguins_run):
    b, page = penguins_run.blessing, penguins_run.html
    charts = chart_ids(page, "chart-false-")
    assert {
        f"chart-{r}-0.5-{f}" for r in ("false-negative-rate", "false-positive-rate") for f in ("island", "sex")
    } == set(charts)
    for chart in charts:
        rate = "false_negative_rate" if "negative" in chart else "false_positive_rate"
        feature = chart.rsplit("-", 1)[1]
        bars = assert_bars_on_axis(page, chart, axis_max=1.0)
        assert {bar["data-series"] for bar in bars} <= set(b["label"]["classes"])
        for bar in bars:
            key = per_class_key(f"{FAIRNESS_PREFIX}{rate}@0.5", bar["data-series"])
            assert float(bar["data-value"]) == b["slice_metrics"][f"{feature}={bar['data-group']}"][key]
    gate = b["fairness_check"]
    assert gate["metric"] == "false_negative_rate@0.5[Adelie]"
    caption = text(re.search(r'id="chart-false-negative-rate-0\.5-sex".*?</div></div>', page, re.S).group(0))
    assert "(the fairness gate)" in caption and "Only Adelie counts for the gate." in caption


def test_multiclass_headline(penguins_run):
    b, page = penguins_run.blessing, penguins_run.html
    headline = text(element(page, "headline"))
    checks = {c["metric"]: c for c in b["checks"]}
    assert set(checks) == {"Accuracy", "MacroRecall"}
    assert "value thresholds: accuracy ≥ 0.9000 and recall (macro) ≥ 0.8500" in headline
    assert "fairness gate: false negative rate @ 0.5 (Adelie) gap across sex ≤ 0.2000" in headline
    assert "Not applied: change thresholds (first run" in headline
    applied = text(element(page, "applied-checks"))
    assert f"accuracy {fmt(checks['Accuracy']['value'])}" in applied


# ----------------------------------------------------------------------------------- regression


def test_regression_report_opens_and_has_its_section(mpg_run, tmp_path):
    dom, errors = open_in_chromium(mpg_run.root / "report.html", tmp_path)
    assert errors == [] and 'data-ready="true"' in dom
    assert 'data-task="regression"' in dom and 'id="task-regression"' in dom and 'id="task-binary"' not in dom
    assert "fairness-0.5" not in dom  # no classification rates


def test_regression_errors_in_label_units(mpg_run):
    b, page = mpg_run.blessing, mpg_run.html
    overall, unit = b["overall_metrics"], b["label"].get("unit") or b["label"]["name"]
    rows = {r[0]: r[1] for r in table_rows(page, "overall")}
    assert rows[f"MAE ({unit})"] == fmt(overall["mean_absolute_error"], "unit")
    assert rows[f"RMSE ({unit})"] == fmt(overall["root_mean_squared_error"], "unit")
    assert rows[f"MSE ({unit}²)"] == fmt(overall["mean_squared_error"], "unit")
    assert rows["r²"] == fmt(overall["squared_pearson_correlation"])
    assert rows["calibration (mean prediction / mean label)"] == fmt(overall["calibration"])
    assert rows[f"mean label ({unit})"] == fmt(overall["mean_label"], "unit")
    assert rows[f"mean prediction ({unit})"] == fmt(overall["mean_prediction"], "unit")
    assert re.fullmatch(r"\d\.\d{3}", rows[f"MAE ({unit})"])  # four significant digits, e.g. 2.393
    bias = text(element(page, "bias"))
    diff = overall["mean_prediction"] - overall["mean_label"]
    assert f"{'over' if diff > 0 else 'under'}-predicts by {fmt(abs(diff), 'unit')} {unit}" in bias
    values = {r[0]: r for r in table_rows(page, "label-values")}
    for split, v in b["label"]["values"].items():
        assert values[split][1:] == [fmt(v["count"], "count")] + [fmt(v[k], "unit") for k in ("mean", "min", "max")]
    # The per-slice error table.
    origin = {r[0]: r for r in table_rows(page, "slices-origin")}
    for group in ("Europe", "Japan", "USA"):
        m = b["slice_metrics"][f"Origin={group}"]
        assert origin[group][1:3] == [fmt(m["example_count"], "count"), fmt(m["mean_absolute_error"], "unit")]


def test_regression_error_by_group_charts_share_one_axis_from_0(mpg_run):
    b, page = mpg_run.blessing, mpg_run.html
    gate, unit = b["fairness_check"], b["label"].get("unit") or b["label"]["name"]
    assert gate["feature"] == "Origin" and gate["metric"] == "mean_absolute_error" and gate["measured"]
    charts = chart_ids(page, "chart-mean-absolute-error-")
    assert charts[0] == "chart-mean-absolute-error-origin"  # the gate's chart first
    for chart in charts:
        feature = "Origin" if chart.endswith("origin") else "Cylinders"
        bars = assert_bars_on_axis(page, chart)
        axis_max = float(re.search(rf'id="{chart}".*?data-max="([^"]+)"', page, re.S).group(1))
        assert (
            max(float(bar["data-value"]) for bar in bars)
            <= axis_max
            < 2 * max(float(bar["data-value"]) for bar in bars)
        )
        for bar in bars:
            assert (
                float(bar["data-value"]) == b["slice_metrics"][f"{feature}={bar['data-group']}"]["mean_absolute_error"]
            )
        svg = re.search(rf'id="{chart}".*?</svg>', page, re.S).group(0)
        assert f"MAE in {unit} (axis from 0)" in svg
    gate_chart = re.search(r'id="chart-mean-absolute-error-origin".*?</div></div>', page, re.S).group(0)
    assert 'class="gap-band"' in gate_chart
    assert (
        f"gap {fmt(gate['gap'], 'unit')} {unit} between Origin={gate['largest']} and Origin={gate['smallest']}"
        in text(gate_chart)
    )
    headline = text(element(page, "headline"))
    assert f"fairness gate: MAE gap across Origin ≤ {fmt(gate['max_gap'], 'unit')} {unit}" in headline
    assert "value thresholds: MAE ≤ 3.000" in headline
    md = mpg_run.markdown
    assert f"| MAE ({unit}) | {fmt(b['overall_metrics']['mean_absolute_error'], 'unit')} |" in md
    assert "| Origin | examples |" in md


def test_regression_provenance_lists_the_rows_left_out(mpg_run):
    b, page = mpg_run.blessing, mpg_run.html
    assert b["data"]["source"].endswith("cars.csv.gz") and b["data"]["source"] in text(element(page, "provenance"))
    warnings = text(element(page, "data-warnings"))
    assert "have no 'Miles_per_Gallon' value: left out" in warnings


# ----------------------------------------------------------------------------------- the site


def test_report_site_indexes_runs_of_every_task_and_serves(first_run, baseline_run, penguins_run, mpg_run, tmp_path):
    """`taxi-pipeline report` over a pipeline root laid out as kfp.local lays it out."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.report_site import build_site

    runs = {
        "taxi-2026-11-22-09-00-00-000001": first_run,
        "taxi-2026-11-22-10-00-00-000002": baseline_run,
        "penguins-2026-11-22-11-00-00-000003": penguins_run,
        "auto-mpg-2026-11-22-12-00-00-000004": mpg_run,
    }
    root = tmp_path / "runs"
    for name, run in runs.items():
        (root / name / "evaluator").mkdir(parents=True)
        shutil.copy(run.root / "report.html", root / name / "evaluator" / "report")
        shutil.copytree(run.root / "blessing", root / name / "evaluator" / "blessing")
    (root / "taxi-failed-run" / "example-validator").mkdir(parents=True)  # no report: skipped
    pushed = root / "penguins-2026-11-22-11-00-00-000003" / "pusher" / "pushed_model"
    pushed.mkdir(parents=True)
    (pushed / "push_result.json").write_text('{"pushed": true, "version": 1700000003}')
    pushed = root / "taxi-2026-11-22-10-00-00-000002" / "pusher" / "pushed_model"
    pushed.mkdir(parents=True)
    (pushed / "push_result.json").write_text('{"pushed": false, "reason": "not blessed"}')
    index, count = build_site(str(root), tmp_path / "site")
    assert count == 4
    page = index.read_text()
    order = [page.index(name) for name in sorted(runs, key=lambda n: n.split("-2026")[1], reverse=True)]
    assert order == sorted(order)  # newest first
    rows = {r[0]: r for r in table_rows(page, "runs")}
    for name, run in runs.items():
        row = rows[name]
        b = run.blessing
        task = {
            "binary": "binary classification",
            "multiclass": "multiclass classification",
            "regression": "regression",
        }[b["task"]]
        assert row[1] == f"{task} {b['label']['name']}" and row[2] == b["decision"]
        assert row[3] == " ".join(f"{title} {value}" for title, value in headline_metrics(b))
        assert row[4] == fmt(b["overall_metrics"]["example_count"], "count")
        assert row[5] == (str(b["baseline"]["version"]) if b["baseline"] else "first run")
        assert row[-1] == b["data"]["source"]
    # Each task's headline metrics come from contracts/metrics.py, the checked ones first.
    penguins = penguins_run.blessing["overall_metrics"]
    assert rows["penguins-2026-11-22-11-00-00-000003"][3] == (
        f"accuracy {fmt(penguins['accuracy'])} recall (macro) {fmt(penguins['macro_recall'])}"
    )
    mpg = mpg_run.blessing
    unit = mpg["label"].get("unit") or mpg["label"]["name"]
    assert rows["auto-mpg-2026-11-22-12-00-00-000004"][3] == (
        f"MAE ({unit}) {fmt(mpg['overall_metrics']['mean_absolute_error'], 'unit')} "
        f"RMSE ({unit}) {fmt(mpg['overall_metrics']['root_mean_squared_error'], 'unit')}"
    )
    taxi = first_run.blessing["overall_metrics"]
    assert rows["taxi-2026-11-22-09-00-00-000001"][3] == (
        f"AUC {fmt(taxi['auc'])} AUC-PR {fmt(taxi['auc_precision_recall'])}"
    )
    assert rows["taxi-2026-11-22-10-00-00-000002"][6:8] == [
        f"value pass change {'pass' if baseline_run.blessing['change_checks'][0]['passed'] else 'FAIL'}",
        "not passed nothing to measure across payment_type",
    ]
    first_gate = first_run.blessing["fairness_check"]
    assert rows["taxi-2026-11-22-09-00-00-000001"][6:8] == [
        "value pass change not applied",
        f"FAIL false negative rate @ 0.5 gap {fmt(first_gate['gap'])} > 0.0000 across trip_start_hour",
    ]
    mpg_gate = mpg["fairness_check"]
    assert rows["auto-mpg-2026-11-22-12-00-00-000004"][7] == (
        f"{'pass' if mpg_gate['passed'] else 'FAIL'} MAE gap {fmt(mpg_gate['gap'], 'unit')} "
        f"{'≤' if mpg_gate['passed'] else '>'} 2.000 {unit} across Origin"
    )
    assert rows["penguins-2026-11-22-11-00-00-000003"][8] == "version 1700000003"
    assert rows["taxi-2026-11-22-10-00-00-000002"][8] == "not pushed"
    assert rows["taxi-2026-11-22-09-00-00-000001"][8] == "run did not finish: nothing pushed"
    name = "auto-mpg-2026-11-22-12-00-00-000004"
    assert (tmp_path / "site" / "runs" / f"{name}.html").read_text() == runs[name].html

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    thread = threading.Thread(
        target=CliRunner().invoke,
        daemon=True,
        args=(app, ["report", str(root), "--output", str(tmp_path / "served"), "--serve", "--port", str(port)]),
    )
    thread.start()
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                assert r.status == 200 and b"Evaluation reports" in r.read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("the report server did not answer")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/runs/{name}.html") as r:
        assert b'id="decision"' in r.read()
    assert json.loads((root / name / "evaluator" / "blessing" / "blessing.json").read_text())["task"] == "regression"
