"""The run summary the CLI prints: every task's headline, and no crash on missing metrics
(a one-class label once left AUC undefined and the summary raised a TypeError on None)."""

from __future__ import annotations

from rich.console import Console

from pipelines import cli


def printed(blessing: dict) -> str:
    console = Console(record=True, width=200)
    old, cli.console = cli.console, console
    try:
        cli.print_evaluation(blessing)
    finally:
        cli.console = old
    return console.export_text()


def test_missing_and_undefined_metrics_print_as_dashes():
    text = printed(
        {
            "decision": "NOT_BLESSED",
            "task": "binary",
            "overall_metrics": {"auc": None, "binary_accuracy": float("nan"), "example_count": None},
            "checks": [{"metric": "AUC", "value": None, "lower_bound": 0.7, "upper_bound": None, "passed": False}],
            "fairness_check": {
                "metric": "false_negative_rate@0.5",
                "feature": "sex",
                "gap": None,
                "max_gap": 0.1,
                "passed": False,
            },
            "reasons": ["AUC = None is outside [0.7, None]"],
        }
    )
    assert "Evaluation: NOT_BLESSED  AUC –  AUC-PR –  accuracy –" in text
    assert "value check AUC = – [0.7, None]: FAIL" in text
    assert "fairness gate: false_negative_rate@0.5 over sex: nothing to measure (max 0.1): FAIL" in text
    assert printed({})  # nothing at all: still no exception


def test_each_task_prints_its_own_headline():
    regression = printed(
        {
            "decision": "BLESSED",
            "task": "regression",
            "overall_metrics": {
                "mean_absolute_error": 2.3931,
                "root_mean_squared_error": 3.1441,
                "example_count": 81.0,
            },
        }
    )
    assert "MAE 2.3931  RMSE 3.1441" in regression and "on 81 eval examples" in regression
    multiclass = printed(
        {"decision": "BLESSED", "task": "multiclass", "overall_metrics": {"accuracy": 0.987, "macro_auc": 0.999}}
    )
    assert "accuracy 0.9870  AUC (macro) 0.9990" in multiclass
