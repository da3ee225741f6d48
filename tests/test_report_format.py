"""The report's building blocks without a TFMA run (fast): the one number format, the chart
geometry (a rate of 0.015 is 1.5% of the axis, next to a 0.000 that has no bar), axis ends,
and the headline for the cases the real runs in test_report.py do not reach: a gate passed by
when_unmeasurable, a gate with no groups at all, a baseline that could not be compared, no gate
configured, and a blessing.json from before task/label/data were recorded."""

from __future__ import annotations

import math

import pytest

from components.evaluator import report
from components.evaluator.report import applied_checks, bar_chart, fmt, headline, nice_max, render_html
from tests.test_report import assert_bars_on_axis, chart_bars, element, text


@pytest.mark.parametrize(
    ("value", "kind", "signed", "expected"),
    [
        (2986.0, "count", False, "2,986"),
        (15002, "count", False, "15,002"),
        (0.015, "metric", False, "0.0150"),
        (0.93796, "metric", False, "0.9380"),
        (1.0000000000000002, "metric", False, "1.0000"),
        (-0.01, "metric", True, "-0.0100"),
        (0.0012, "metric", True, "+0.0012"),
        (0.0, "metric", True, "0.0000"),
        (2.393008891447091, "unit", False, "2.393"),
        (23.713580190399547, "unit", False, "23.71"),
        (9.885204171481286, "unit", False, "9.885"),
        (12345.6, "unit", False, "12,346"),
        (0.00123456, "unit", False, "0.001235"),
        (0.0, "unit", False, "0"),
        (-1.326, "unit", True, "-1.326"),
        (0.2203, "percent", False, "22.0%"),
        (None, "metric", False, "–"),
        (math.nan, "unit", False, "–"),
        (math.inf, "count", False, "–"),
    ],
)
def test_one_number_format(value, kind, signed, expected):
    assert fmt(value, kind, signed) == expected


@pytest.mark.parametrize(("top", "axis"), [(3.132, 4.0), (0.2, 0.2), (11.87, 12.5), (46.6, 50.0), (0.0, 1.0)])
def test_axis_ends_are_round_and_cover_the_largest_value(top, axis):
    assert nice_max(top) == pytest.approx(axis)


def test_a_small_rate_is_a_small_bar_on_the_common_axis():
    rows = [
        {"group": "a", "label": "a", "values": [0.015]},
        {"group": "b", "label": "b", "values": [0.0]},
        {"group": "c", "label": "c", "values": [None]},
    ]
    page = bar_chart("chart-x", "FNR by g", rows, 1.0, "rate", "metric")
    bars = assert_bars_on_axis(page, "chart-x", axis_max=1.0)
    axis, _ = chart_bars(page, "chart-x")
    width = float(axis["x2"]) - float(axis["x1"])
    assert [(b["data-group"], float(b["width"])) for b in bars] == [("a", pytest.approx(0.015 * width)), ("b", 0.0)]
    assert "no value" in page and "0.0150" in page and "0.0000" in page


def _blessing(**changes) -> dict:
    """A binary blessing.json as the Evaluator writes it (numbers from a real taxi run)."""
    b = {
        "decision": "NOT_BLESSED",
        "blessed": False,
        "task": "binary",
        "label": {"name": "big_tipper", "task": "binary", "classes": ["negative", "positive"]},
        "checks": [{"metric": "AUC", "value": 0.938, "lower_bound": 0.75, "upper_bound": None, "passed": True}],
        "change_checks": [],
        "baseline": None,
        "baseline_metrics": {},
        "overall_metrics": {"example_count": 2986.0, "auc": 0.938, "mean_label": 0.22},
        "slice_metrics": {},
        "fairness_check": {
            "feature": "payment_type",
            "metric": "false_negative_rate@0.5",
            "max_gap": 0.1,
            "min_examples": 30,
            "groups": [
                {"group": "Cash", "value": None, "example_count": 1994, "counted": False},
                {"group": "Credit Card", "value": 0.003, "example_count": 972, "counted": True},
            ],
            "gap": None,
            "largest": None,
            "smallest": None,
            "passed": True,
            "measured": False,
        },
        "reasons": [],
        "notes": ["first run: no blessed m in the registry (r); change thresholds not applied"],
        "data": {},
    }
    return b | changes


def test_a_gate_passed_by_when_unmeasurable_says_it_measured_nothing():
    b = _blessing(decision="BLESSED", blessed=True)
    gate = next(c for c in applied_checks(b) if c["id"] == "gate")
    assert gate["status"] == "pass"
    assert gate["detail"] == (
        "nothing to measure: 1 of 2 payment_type groups has ≥ 30 examples and a defined false negative rate @ 0.5; "
        "two are needed; passed by fairness_gate.when_unmeasurable: pass"
    )
    assert "— nothing to measure, passed by when_unmeasurable: pass" in headline(b)


def test_a_gate_with_no_groups_and_no_gate_at_all():
    gate = _blessing()["fairness_check"] | {"groups": [], "passed": False}
    b = _blessing(fairness_check=gate, reasons=["fairness gate: no payment_type groups in the eval data"])
    [entry] = [c for c in applied_checks(b) if c["id"] == "gate"]
    assert entry["status"] == "not passed"
    assert entry["detail"].startswith("nothing to measure: no payment_type groups in the eval data")
    none = _blessing(fairness_check=None, decision="BLESSED")
    assert headline(none) == (
        "BLESSED. Checks applied: value thresholds: AUC ≥ 0.7500 — pass. Not applied: change thresholds (first run: "
        "no blessed m in the registry (r)); fairness gate (none configured)."
    )


def test_a_baseline_that_could_not_be_compared_is_named():
    note = "baseline version 3 not compared: it is a multiclass model; change thresholds not applied"
    b = _blessing(notes=[note], fairness_check=None)
    change = next(c for c in applied_checks(b) if c["id"] == "change")
    assert change["status"] == "not applied"
    assert change["detail"] == "not applied: baseline version 3 not compared: it is a multiclass model"
    assert "first run" not in render_html(b, {"model": "m"})


def test_an_older_blessing_without_task_label_or_data_still_renders(tmp_path):
    b = _blessing()
    for key in ("task", "label", "data"):
        b.pop(key)
    page = render_html(b, {"model": "m", "data": "gs://bucket/data.csv"})
    assert 'data-task="binary"' in page and "gs://bucket/data.csv" in text(element(page, "provenance"))
    assert report.render_markdown(b, {"model": "m"}).startswith("# Evaluation of m: **NOT_BLESSED**")
