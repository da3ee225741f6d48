"""The evaluation report opens in headless Chromium (Debian's package) without console errors,
needs no network, and its DOM shows the decision, the reasons, the checks and the slice tables."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from components.evaluator import executor as evaluator
from components.example_validator import executor as validator
from tests.test_evaluation_fairness import gate_config

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--host-resolver-rules=MAP * ~NOTFOUND",  # any network fetch would fail loudly
                  "--enable-logging=stderr", "--v=0"]


def open_in_chromium(path, tmp_path) -> tuple[str, list[str]]:
    """(the DOM after scripts ran, the console errors)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make setup-browser` installs Debian's package")
    out = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          f"file://{path}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if "CONSOLE" in line and re.search(r"error|uncaught", line, re.I)]
    return out.stdout, errors


@pytest.fixture(scope="module")
def reports(chain, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    config = gate_config(chain, root)  # a fairness gate no real model passes: NOT_BLESSED
    evaluator.run(config, str(chain.model / "Format-Serving"), str(chain.examples), str(chain.schema),
                  str(root / "evaluation"), str(root / "blessing"))
    validator.run(str(chain.statistics), str(chain.schema), ["train", "eval"], str(root / "anomalies"))
    evaluator.write_reports(str(root / "blessing"), str(root / "report.html"), str(root / "summary.md"), config,
                            str(chain.statistics), str(root / "anomalies"))
    return root


def test_report_opens_without_console_errors_and_shows_the_decision(reports, tmp_path):
    dom, errors = open_in_chromium(reports / "report.html", tmp_path)
    assert errors == []
    assert 'data-ready="true"' in dom  # the inline script ran to its end
    assert re.search(r'id="decision"[^>]*>NOT_BLESSED<', dom)
    reasons = re.search(r'<ul id="reasons">(.*?)</ul>', dom, re.S).group(1)
    assert "fairness gate" in reasons and "trip_start_hour" in reasons
    assert "first run: no blessed model in the registry" in dom
    slice_tables = re.findall(r'<table class="sortable slice-table" id="slices-([a-z0-9-]+)"', dom)
    assert {"payment-type", "trip-start-hour"} <= set(slice_tables)
    assert {"payment-type-x-trip-start-hour", "trip-start-hour-x-payment-type"} & set(slice_tables)  # the cross slice
    assert "Credit Card" in dom and 'id="checks"' in dom and 'id="data"' in dom
    assert re.search(r'id="fairness-0\.5".*<svg', dom, re.S)


def test_report_is_self_contained(reports):
    html = (reports / "report.html").read_text()
    external = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
    assert external == [] and "<link" not in html and "@import" not in html


def test_a_failing_script_would_be_caught(tmp_path):
    """The console check above can fail: a page that throws is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><html><body><script>throw new Error('boom')</script></body></html>")
    _, errors = open_in_chromium(page, tmp_path)
    assert errors and "boom" in errors[0]


def test_markdown_summary(reports):
    text = (reports / "summary.md").read_text()
    assert text.startswith("# Evaluation of chicago_taxi_big_tipper: **NOT_BLESSED**")
    assert "First run: no blessed model" in text and "| AUC |" in text and "not blessed: fairness gate" in text


def test_roc_and_confusion_matrix_for_the_kfp_ui(chain, reports):
    from tests.test_evaluator_pusher import eval_labels_and_predictions

    curves = evaluator.classification_curves(str(reports / "evaluation"))
    labels, probabilities = eval_labels_and_predictions(chain)
    predicted = probabilities > 0.5
    tn, fp = int(((labels == 0) & ~predicted).sum()), int(((labels == 0) & predicted).sum())
    fn, tp = int(((labels == 1) & ~predicted).sum()), int(((labels == 1) & predicted).sum())
    assert curves["matrix"] == [[tn, fp], [fn, tp]]
    assert len(curves["fpr"]) == len(curves["tpr"]) == len(curves["thresholds"]) > 50
    assert curves["fpr"][0] == pytest.approx(1.0) and curves["tpr"][0] == pytest.approx(1.0)  # threshold ~0
    assert all(a >= b - 1e-9 for a, b in zip(curves["tpr"], curves["tpr"][1:]))  # falls as the threshold rises


def test_report_site_indexes_runs_and_serves(reports, tmp_path):
    """`taxi-pipeline report` over a pipeline root laid out as kfp.local lays it out."""
    import shutil as sh
    import socket
    import threading
    import time
    import urllib.request

    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.report_site import build_site

    root = tmp_path / "runs"
    for run in ("chicago-taxi-2026-11-22-09-00-00-000001", "chicago-taxi-2026-11-22-10-00-00-000002"):
        (root / run / "evaluator").mkdir(parents=True)
        sh.copy(reports / "report.html", root / run / "evaluator" / "report")
        sh.copytree(reports / "blessing", root / run / "evaluator" / "blessing")
    (root / "chicago-taxi-failed-run" / "example-validator").mkdir(parents=True)  # no report: skipped
    pushed = root / "chicago-taxi-2026-11-22-10-00-00-000002" / "pusher" / "pushed_model"
    pushed.mkdir(parents=True)
    (pushed / "push_result.json").write_text('{"pushed": false, "reason": "not blessed"}')
    index, count = build_site(str(root), tmp_path / "site")
    assert count == 2
    page = index.read_text()
    assert page.index("10-00-00-000002") < page.index("09-00-00-000001")  # newest first
    assert page.count(">NOT_BLESSED<") == 2 and "first run" in page
    assert "<td>not pushed</td>" in page and "<td>run did not finish: nothing pushed</td>" in page
    assert (tmp_path / "site" / "runs" / "chicago-taxi-2026-11-22-10-00-00-000002.html").read_text() == \
        (reports / "report.html").read_text()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    thread = threading.Thread(target=CliRunner().invoke, daemon=True, args=(app, [
        "report", str(root), "--output", str(tmp_path / "served"), "--serve", "--port", str(port)]))
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
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/runs/chicago-taxi-2026-11-22-09-00-00-000001.html") as r:
        assert b'id="decision"' in r.read()


def test_roc_and_confusion_matrix_with_a_baseline(chain, tmp_path):
    """With a baseline TFMA keys its plots by model: the candidate's must still be found."""
    from components.pusher.executor import push_model

    registry = tmp_path / "registry"
    push_model(str(chain.model / "Format-Serving"), str(registry), chain.config.model_name, {"note": "baseline"})
    config = gate_config(chain, tmp_path).model_copy(update={"push": chain.config.push.model_copy(
        update={"registry": str(registry)})})
    result = evaluator.run(config, str(chain.model / "Format-Serving"), str(chain.examples), str(chain.schema),
                           str(tmp_path / "evaluation"), str(tmp_path / "blessing"))
    assert result.baseline is not None
    curves = evaluator.classification_curves(str(tmp_path / "evaluation"), with_baseline=True)
    assert sum(sum(row) for row in curves["matrix"]) == int(result.overall_metrics["example_count"])
