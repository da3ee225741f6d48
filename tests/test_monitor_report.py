"""The monitoring report: the Monitor run on real TFDV statistics of small generated frames (a
training set, a same-distribution window, then a window with one numeric feature shifted, one
categorical feature's shares moved and worse predictions), its HTML page read back (decision,
tables, one chart per feature drawn from the statistics, drifted first), its KFP metrics, and
the `tabml report` site listing the monitoring runs beside the training runs."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from typer.testing import CliRunner

from components.common.formatting import fmt
from components.monitor import distributions
from components.monitor import executor as monitor
from contracts.artifacts import stats_path
from contracts.monitoring import MODEL_VERSION, PREDICTION, WINDOW_CSV, WINDOW_SPLIT, WINDOW_SUMMARY
from contracts.registry import METADATA_FILE, TRAINING_STATS
from tests.conftest import example_config

VERSION = "1700000001"
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
ISLANDS = ["Biscoe", "Dream", "Torgersen"]


def penguins(n: int, seed: int, mass_shift: float = 0.0, islands=(0.5, 0.35, 0.15)) -> pd.DataFrame:
    """Penguin-like rows: four measurements, island and sex, the species."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bill_length_mm": rng.normal(44, 5, n).round(1),
            "bill_depth_mm": rng.normal(17, 2, n).round(1),
            "flipper_length_mm": rng.normal(200, 14, n).round(0),
            "body_mass_g": (rng.normal(4200, 800, n) + mass_shift * 800).round(0),
            "island": rng.choice(ISLANDS, n, p=list(islands)),
            "sex": rng.choice(["female", "male"], n),
            "species": rng.choice(SPECIES, n, p=[0.45, 0.2, 0.35]),
        }
    )


def predicted(frame: pd.DataFrame, right: float, seed: int) -> list[str]:
    """The species where a coin with P(right) says so, another one otherwise."""
    rng = np.random.default_rng(seed)
    wrong = [SPECIES[(SPECIES.index(s) + 1) % 3] for s in frame["species"]]
    return [s if rng.random() < right else w for s, w in zip(frame["species"], wrong, strict=True)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two windows monitored against version VERSION: day 1 unshifted, day 2 shifted."""
    tmp = tmp_path_factory.mktemp("monitor-report")
    config = example_config("penguins", tmp)
    version = Path(config.push.registry) / config.model_name / VERSION
    (version / "training_stats").mkdir(parents=True)
    training = tfdv.generate_statistics_from_dataframe(penguins(2000, 0).drop(columns="species"))
    (version / TRAINING_STATS).write_bytes(training.SerializeToString())
    metadata = {"task": "multiclass", "metrics": {"accuracy": 0.9}, "label": {"name": "species", "classes": SPECIES}}
    (version / METADATA_FILE).write_text(json.dumps(metadata))

    def run(name: str, day: int, frame: pd.DataFrame, right: float):
        out = tmp / name
        window = frame.assign(**{PREDICTION: predicted(frame, right, day), MODEL_VERSION: VERSION})
        (out / "window").mkdir(parents=True)
        window.to_csv(out / "window" / WINDOW_CSV, index=False)
        summary = {
            "start": f"2026-11-2{day}T00:00:00Z",
            "end": f"2026-11-2{day + 1}T00:00:00Z",
            "rows": len(window),
            "labelled_rows": len(window),
            "rejected": 0,
            "model_versions": {VERSION: len(window)},
        }
        (out / "window" / WINDOW_SUMMARY).write_text(json.dumps(summary))
        stats = Path(stats_path(str(out / "statistics"), WINDOW_SPLIT))
        stats.parent.mkdir(parents=True)
        features = window.drop(columns=["species", MODEL_VERSION])
        stats.write_bytes(tfdv.generate_statistics_from_dataframe(features).SerializeToString())
        result = monitor.run(
            config,
            monitor.Inputs(str(out / "window"), str(out / "statistics"), config.push.registry),
            monitor.Outputs(str(out / "decision"), str(out / "report.md"), str(out / "report.html")),
        )
        return result, out

    first = run("day1", 1, penguins(400, 1), right=0.92)
    shifted = penguins(400, 2, mass_shift=1.5, islands=(0.15, 0.35, 0.5))
    second = run("day2", 2, shifted, right=0.6)
    return config, first, second


def _attrs(tag: str) -> dict[str, str]:
    return {k: htmllib.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def chart(page: str, chart_id: str) -> str:
    return re.search(rf'<div class="chart[^"]*" id="{re.escape(chart_id)}"><svg.*?</svg>', page, re.S).group(0)


def shapes(svg: str, kind: str) -> list[dict]:
    return [_attrs(tag) for tag in re.findall(rf'<rect class="{kind}"[^>]*>', svg)]


def rows(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]


def test_the_page_shows_the_decision_why_and_the_distances_drifted_first(runs):
    _, (first, _), (second, out) = runs
    assert first.decision == "ok" and second.decision == "retrain", (first.reasons, second.reasons)
    page = (out / "report.html").read_text()
    full = json.loads((out / "decision" / monitor.REPORT_FILE).read_text())
    assert "<h2 class=retrain>Decision: retrain</h2>" in page
    reasons = re.search(r'<ul id="reasons">(.*?)</ul>', page, re.S).group(1)
    assert "skew: body_mass_g JSD" in reasons and "skew: island L-inf" in reasons and "quality: accuracy" in reasons
    facts = re.search(r'<div class="muted" id="facts">(.*?)</div>', page, re.S).group(1)
    assert "2026-11-22T00:00:00Z to 2026-11-23T00:00:00Z: 400 rows (400 labelled)" in facts
    assert f"version(s) {VERSION} (400 rows)" in facts

    skew = rows(page, "skew")
    by_feature = {r[0]: r for r in skew}
    assert [r[-1] for r in skew[:2]] == ["drifted", "drifted"] and {r[0] for r in skew[:2]} == {"body_mass_g", "island"}
    assert all(r[-1] == "ok" for r in skew[2:])
    mass = next(f for f in full["skew"]["features"] if f["feature"] == "body_mass_g")
    # distance, effective threshold, configured one (four decimals), rows with separators
    assert by_feature["body_mass_g"][2:5] == [fmt(mass["distance"]), fmt(mass["effective_threshold"]), "0.0200"]
    assert by_feature["body_mass_g"][6] == "400 / 2,000" and re.fullmatch(r"0\.\d{4}", by_feature["sex"][2])
    assert {r[0] for r in rows(page, "drift") if r[-1] == "drifted"} == {"body_mass_g", "island"}

    markdown = (out / "report.md").read_text()
    skew_md = markdown.split("## Skew")[1].split("##")[0]
    assert skew_md.index("| body_mass_g |") < skew_md.index("| sex |")  # drifted first there too
    assert "**Decision: retrain**" in markdown


def test_every_feature_is_charted_from_the_statistics(runs):
    config, _, (_, out) = runs
    page = (out / "report.html").read_text()
    ids = re.findall(r'<div class="chart( drifted)?" id="chart-([^"]+)"', page)
    features = [i for _, i in ids if i not in ("prediction", "quality")]
    expected = {f.replace("_", "-") for f in config.feature_names}
    assert set(features) == expected and len(features) == len(expected)
    assert {i for d, i in ids if d} == {"body-mass-g", "island"} and set(features[:2]) == {"body-mass-g", "island"}

    # Numeric: overlaid histograms, each side's shares over the same bins adding up to its rows.
    bins = shapes(chart(page, "chart-body-mass-g"), "bin")
    by_side = {s: [b for b in bins if b["data-series"] == s] for s in ("training", "window", "previous window")}
    assert all(len(b) == distributions.BINS for b in by_side.values())
    assert [(b["data-low"], b["data-high"]) for b in by_side["training"]] == [
        (b["data-low"], b["data-high"]) for b in by_side["window"]
    ]

    def mean(side):
        shares = np.array([float(b["data-value"]) for b in by_side[side]])
        centres = np.array([(float(b["data-low"]) + float(b["data-high"])) / 2 for b in by_side[side]])
        assert 0.97 < shares.sum() <= 1.0 + 1e-9, side
        return (shares * centres).sum() / shares.sum()

    # 1.5 sd of 800 g higher in the window; the previous window is like training.
    assert mean("window") - mean("training") == pytest.approx(1200, abs=150)
    assert mean("previous window") - mean("training") == pytest.approx(0, abs=150)

    # Categorical: a bar per value and side, the shares the statistics hold.
    bars = shapes(chart(page, "chart-island"), "bar")
    share = {(b["data-group"], b["data-series"]): float(b["data-value"]) for b in bars}
    assert set(share) == {(i, s) for i in ISLANDS for s in ("training", "window", "previous window")}
    assert share[("Biscoe", "window")] == pytest.approx(0.15, abs=0.05)
    assert share[("Torgersen", "window")] == pytest.approx(0.5, abs=0.05)
    assert share[("Biscoe", "training")] == pytest.approx(0.5, abs=0.03)
    assert re.search(r">\d{1,2}\.\d%</text>", chart(page, "chart-island"))

    # Predictions of the window against the previous window's; live quality against evaluated.
    predicted_bars = shapes(chart(page, "chart-prediction"), "bar")
    assert {b["data-series"] for b in predicted_bars} == {"window", "previous window"}
    assert {b["data-group"] for b in predicted_bars} == set(SPECIES)
    quality = chart(page, "chart-quality")
    live = {b["data-group"]: float(b["data-value"]) for b in shapes(quality, "bar")}
    assert live["evaluated"] == 0.9 and live["live"] == pytest.approx(0.6, abs=0.06)
    assert re.search(r'<line class="mark"[^>]*><title>limit 0\.8100</title>', quality)

    external = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', page)
    assert external == [] and "<link" not in page and "<script" not in page and "url(" not in page


def test_the_metrics_say_the_decision_and_the_worst_distances(runs):
    _, (first, _), (second, _) = runs
    assert first.metrics["decision_retrain"] == 0.0 and "worst_ratio_drift" not in first.metrics
    assert first.metrics["worst_ratio_skew"] < 1 and first.metrics["drifted_features_skew"] == 0
    m = second.metrics
    assert m["decision_retrain"] == 1.0 and m["decision_too_small"] == 0.0 and m["labelled_rows"] == 400
    assert m["drifted_features_skew"] == 2 and m["drifted_features_drift"] == 2
    assert m["worst_ratio_skew"] > 1 and m["worst_distance_skew"] in (m["skew_body_mass_g"], m["skew_island"])
    assert "worst_distance_prediction_drift" in m and "drifted_features_prediction_drift" in m


def test_the_site_lists_monitoring_runs_beside_training_runs(runs, tmp_path):
    """`tabml report` over an empty training root and a monitoring root laid out as kfp.local
    lays it out (<run>/monitor/view, <run>/monitor/decision/)."""
    from pipelines.cli import app

    _, (_, first), (_, second) = runs
    root = tmp_path / "monitor_runs"
    names = {
        "penguins-monitor-2026-11-22-01-00-00-000001": first,
        "penguins-monitor-2026-11-23-01-00-00-000002": second,
    }
    for name, out in names.items():
        (root / name / "monitor").mkdir(parents=True)
        shutil.copy(out / "report.html", root / name / "monitor" / "view")
        shutil.copytree(out / "decision", root / name / "monitor" / "decision")
    (root / "penguins-monitor-failed" / "request-window").mkdir(parents=True)  # no Monitor output: skipped
    site = tmp_path / "site"
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "no-training-runs"), "--monitor-runs", str(root), "--output", str(site)]
    )
    assert result.exit_code == 0, result.output
    assert "0 run(s) with an evaluation report, 2 monitoring run(s)" in result.output.replace("\n", " ")
    index = (site / "index.html").read_text()
    assert "No runs with an evaluation report yet." in index
    listed = rows(index, "monitoring")
    assert [r[0] for r in listed] == list(reversed(names))  # newest first
    newest = listed[0]
    assert newest[1] == "2026-11-22T00:00:00Z to 2026-11-23T00:00:00Z" and newest[2:5] == [VERSION, "400", "retrain"]
    assert "skew: body_mass_g JSD" in newest[5] and newest[6].split()[0] in ("body_mass_g", "island")
    assert listed[1][4] == "ok" and listed[1][5] == ""
    for name, out in names.items():
        assert f'href="monitoring/{name}.html"' in index
        assert (site / "monitoring" / f"{name}.html").read_text() == (out / "report.html").read_text()


def test_numeric_bins_hold_every_row_with_ties_a_constant_and_an_outlier():
    """Shares from the quantile histograms add up to each side's rows: a column of few values
    (ties in point buckets), a constant, and one far outlier, which widens nothing but its own
    share outside the range shown."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "hour": rng.integers(0, 24, 1000).astype(float),
            "constant": np.full(1000, 7.0),
            "heavy": np.append(rng.normal(10, 1, 999), 1e6),
        }
    )
    stats = distributions.features(tfdv.generate_statistics_from_dataframe(frame))
    for name in frame.columns:
        found = distributions.numeric([stats[name]])
        total = sum(found.shares[0]) + found.below[0] + found.above[0]
        assert total == pytest.approx(1.0), name
    heavy = distributions.numeric([stats["heavy"]])
    assert heavy.edges[-1] < 100 and sum(heavy.shares[0]) > 0.85  # the outlier does not squash the chart
    constant = distributions.numeric([stats["constant"]])
    assert sum(constant.shares[0]) == pytest.approx(1.0) and constant.edges[0] < 7 < constant.edges[-1]
