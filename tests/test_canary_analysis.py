"""CanaryAnalysis: canary vs stable over request windows, and the decision carried out.

The windows are built as in production: log lines written by the predictor's own writer
(serving/predictor/request_log.py; one file per serving pod, real taxi rows as features,
rejected requests as the predictor logs them) read by RequestWindow's executor, with labels
joined from a labels file. Predictions are drawn per case (a healthy canary predicts like the
stable model; a broken one does not). Acting goes through the real Kubernetes client against
the local stand-in for the API server (tests/serving/fake_k8s.py), asserting the patch bodies.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.canary_analysis import checks
from components.canary_analysis.checks import Side
from components.canary_analysis.executor import (
    ANALYSIS_JSON,
    ANALYSIS_MD,
    INCONCLUSIVE,
    PROMOTE,
    ROLLBACK,
    CanaryError,
    Inputs,
    Outputs,
    run,
)
from components.request_window import executor as rw
from contracts.config import CanaryAnalysis, LabelSpec, PipelineConfig
from contracts.monitoring import PREDICTION, REQUEST_ID, REQUEST_LATENCY_MS
from contracts.registry import version_dir
from pipelines.canary import analyse_and_act
from rollout.isvc import ANNOTATION_PREVIOUS_URI, ANNOTATION_STORAGE_URI, ANNOTATION_VERSION, STORAGE_ENV
from tests.conftest import read_taxi, taxi_config
from tests.serving.fake_k8s import FakeKubernetes
from tests.test_request_window import request_log_module, served_instances

STABLE, CANARY = "1795336682", "1795336860"
T0 = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
DAY = dict(start="2026-11-20T00:00:00Z", end="2026-11-21T00:00:00Z")
NS, NAME = "ml-prod", "taxi-model"
V1, V2 = (
    version_dir("gs://models/registry", "taxi", int(STABLE)),
    version_dir("gs://models/registry", "taxi", int(CANARY)),
)
PATH = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices/{NAME}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The taxi config and 800 real rows as the predictor logs their features."""
    config = taxi_config(tmp_path_factory.mktemp("config"))
    return config, served_instances(config, read_taxi(800))


def serve(path, version, instances, predictions, *, start=T0, rejected=0, every_s=20, batch=1, latencies=None):
    """Requests of `batch` instances, every `every_s` seconds from `start`, by one pod of
    `version`, each with its latency_ms from `latencies` (none logged: a predictor from before
    latencies were logged), then `rejected` requests it refused; returns the request ids."""
    module = request_log_module()
    logger = module.RequestLogger(str(path), "taxi")
    ids = []
    assert len(instances) == len(predictions)
    for n, first in enumerate(range(0, len(instances), batch)):
        when = start + dt.timedelta(seconds=every_s * n)
        module._now = lambda when=when: when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ids.append(f"{version}-{n}")
        timing = {} if latencies is None else {"latency_ms": float(latencies[n])}
        logger.predictions(
            request_id=ids[-1],
            model_name="taxi",
            model_version=version,
            task="binary",
            protocol="v1",
            features=instances[first : first + batch],
            predictions=[float(p) for p in predictions[first : first + batch]],
            **timing,
        )
    for n in range(rejected):
        logger.rejected(
            request_id=f"{version}-bad-{n}",
            model_name="taxi",
            model_version=version,
            protocol="v1",
            error="instances[0] is missing feature ['fare']",
        )
    logger.close()
    return ids


def window(config: PipelineConfig, log, out, labels=None, **bounds):
    rw.run(
        config,
        rw.Inputs(request_log=str(log), labels=str(labels) if labels else "", **(bounds or DAY)),
        rw.Outputs(window=str(out), statistics=f"{out}_statistics"),
    )
    return str(out)


def scores(seed: int, n: int, a: float = 2.0, b: float = 5.0) -> np.ndarray:
    return np.random.default_rng(seed).beta(a, b, n).round(4)


def analysis(config, tmp_path, window_dir, **inputs):
    result = run(config, Inputs(window=window_dir, **inputs), Outputs(analysis=str(tmp_path / "analysis")))
    saved = json.loads((tmp_path / "analysis" / ANALYSIS_JSON).read_text())
    assert saved["decision"] == result.decision and saved["reasons"] == result.reasons
    return result, {c["name"]: c for c in result.checks}


def serverless_window(
    served, tmp_path, canary_scores, stable_n=500, canary_truth=None, latencies=(None, None), batch=1
):
    """One window of both revisions (Serverless: each logs its own version), the canary 1/3.
    canary_truth: join labels; the canary's outcomes drawn from these scores (the stable's from
    its own), so a canary whose scores are not them ranks at chance. latencies: per request,
    (stable's, canary's)."""
    config, instances = served
    stable_scores = scores(1, stable_n)
    stable_ids = serve(
        tmp_path / "logs" / "stable.jsonl",
        STABLE,
        instances[:stable_n],
        stable_scores,
        batch=batch,
        latencies=latencies[0],
    )
    canary_rows = instances[stable_n : stable_n + len(canary_scores)]
    canary_ids = serve(
        tmp_path / "logs" / "canary.jsonl",
        CANARY,
        canary_rows,
        canary_scores,
        every_s=30,
        batch=batch,
        latencies=latencies[1],
    )
    labels_file = None
    if canary_truth is not None:
        truth = np.random.default_rng(7).random(stable_n + len(canary_scores))
        outcome = np.concatenate([stable_scores, canary_truth]) > truth
        labels_file = tmp_path / "labels.csv"
        lines = [f"{rid},{int(y)}" for rid, y in zip(stable_ids + canary_ids, outcome, strict=True)]
        labels_file.write_text("request_id,big_tipper\n" + "\n".join(lines) + "\n")
    return window(config, tmp_path / "logs", tmp_path / "window", labels_file)


# ------------------------------------------------------------------------------------ decisions


def test_a_healthy_canary_is_promoted(served, tmp_path):
    config, _ = served
    canary_scores = scores(2, 250)
    result, checks = analysis(
        config, tmp_path, serverless_window(served, tmp_path, canary_scores, canary_truth=canary_scores)
    )
    assert result.decision == PROMOTE, result.reasons
    assert (result.canary_version, result.stable_version) == (CANARY, STABLE)  # the newest is the canary
    assert result.requests == {"canary": 250, "stable": 500}
    assert result.action == "dry run: would promote" and result.rollout is None
    assert checks["predictions"]["verdict"] == "ok"
    assert checks["predictions"]["numbers"]["measure"] == "jensen_shannon_divergence"
    assert checks["predictions"]["numbers"]["distance"] < checks["predictions"]["numbers"]["threshold"]
    quality = checks["quality"]["numbers"]
    assert checks["quality"]["verdict"] == "ok" and quality["labelled_rows"] == {"canary": 250, "stable": 500}
    assert quality["metric"] == "auc" and quality["stable"] > 0.6 and quality["canary"] > 0.6
    # One window of two versions: its rejected requests are not per version, and it says so.
    # RequestWindow counts rejected requests per model version: one window splits them.
    assert checks["error_rate"]["verdict"] == "ok"
    assert "rejected 0/250 = 0.00% (canary) vs 0/500 = 0.00% (stable)" in checks["error_rate"]["detail"]
    summary = (tmp_path / "analysis" / ANALYSIS_MD).read_text()
    assert summary.startswith("# Canary analysis: promote") and "| predictions | ok |" in summary


def test_a_canary_whose_predictions_shifted_is_rolled_back(served, tmp_path):
    config, _ = served
    result, checks = analysis(config, tmp_path, serverless_window(served, tmp_path, scores(2, 250, a=5.0, b=2.0)))
    assert result.decision == ROLLBACK
    assert checks["predictions"]["verdict"] == "failed" and checks["quality"]["verdict"] == "not_judged"
    numbers = checks["predictions"]["numbers"]
    assert numbers["distance"] > numbers["threshold"] >= config.monitoring.canary_analysis.max_prediction_jsd
    assert numbers["mean"]["canary"] > 0.6 > 0.4 > numbers["mean"]["stable"]
    assert result.reasons == [f"predictions: {checks['predictions']['detail']}"]
    assert "no labels in the canary's window" in checks["quality"]["detail"]
    assert result.action == "dry run: would roll back (restoring the previous storage URI)"


def test_a_canary_that_ranks_worse_on_live_labels_is_rolled_back(served, tmp_path):
    config, _ = served
    canary_scores = scores(2, 250)  # the same distribution as the stable's ...
    unrelated = scores(3, 250)  # ... but the outcomes follow other scores: the canary ranks at chance
    result, checks = analysis(
        config, tmp_path, serverless_window(served, tmp_path, canary_scores, canary_truth=unrelated)
    )
    assert result.decision == ROLLBACK and checks["predictions"]["verdict"] == "ok"
    quality = checks["quality"]["numbers"]
    assert quality["canary"] < 0.6 < quality["stable"] and quality["relative_drop"] > 0.05
    assert result.reasons[0].startswith("quality: auc ")


def test_too_few_canary_requests_is_inconclusive(served, tmp_path):
    config, _ = served
    result, checks = analysis(config, tmp_path, serverless_window(served, tmp_path, scores(2, 40, a=5.0, b=2.0)))
    assert result.decision == INCONCLUSIVE and list(checks) == ["volume"]  # nothing judged on 40 requests
    assert result.reasons == [f"inconclusive: canary {CANARY} served 40 requests, at least 100 needed"]
    assert result.action == "nothing"


def test_raw_deployment_windows_compare_error_rates(served, tmp_path):
    """RawDeployment: no split; the stable side is the previous version's own window."""
    config, instances = served
    serve(tmp_path / "before" / "pod.jsonl", STABLE, instances[:400], scores(1, 400), rejected=2)
    serve(tmp_path / "after" / "pod.jsonl", CANARY, instances[400:700], scores(2, 300), rejected=40)
    before = window(config, tmp_path / "before", tmp_path / "w-before")
    after = window(config, tmp_path / "after", tmp_path / "w-after")
    result, checks = analysis(config, tmp_path, after, baseline_window=before)
    assert (result.decision, result.stable_version) == (ROLLBACK, STABLE)
    errors = checks["error_rate"]["numbers"]
    assert (errors["canary_rejected"], errors["stable_rejected"]) == (40, 2)
    assert errors["canary"] == pytest.approx(40 / 340) and errors["stable"] == pytest.approx(2 / 402)
    assert errors["z"] > 2.326 and checks["predictions"]["verdict"] == "ok"
    assert result.reasons == [f"error_rate: {checks['error_rate']['detail']}"]
    # The same versions with as few rejections: promoted.
    serve(tmp_path / "fine" / "pod.jsonl", CANARY, instances[400:700], scores(2, 300), rejected=1)
    fine = window(config, tmp_path / "fine", tmp_path / "w-fine")
    result, checks = analysis(config, tmp_path / "again", fine, baseline_window=before)
    assert result.decision == PROMOTE and checks["error_rate"]["verdict"] == "ok"


def test_rejected_requests_counted_per_version_are_compared(served, tmp_path):
    """window.json's rejected_by_version (error lines carry model_version) splits one window's rejections."""
    config, _ = served
    window_dir = Path(serverless_window(served, tmp_path, scores(2, 250)))
    summary = json.loads((window_dir / "window.json").read_text())
    (window_dir / "window.json").write_text(json.dumps(summary | {"rejected_by_version": {CANARY: 30, STABLE: 1}}))
    result, checks = analysis(config, tmp_path, str(window_dir))
    assert result.decision == ROLLBACK and checks["error_rate"]["verdict"] == "failed"
    assert checks["error_rate"]["numbers"]["canary"] == pytest.approx(30 / 280)


def test_multiclass_and_regression_checks():
    """Predicted classes by L-infinity and accuracy; regression by MAE, where lower is better."""
    cfg = CanaryAnalysis()
    rng = np.random.default_rng(0)

    def side(version, predictions, labels):
        rows = pd.DataFrame({REQUEST_ID: [f"{version}-{i}" for i in range(len(labels))], PREDICTION: predictions})
        return Side(version, rows.assign(y=labels), 0, "")

    classes = rng.choice(["a", "b", "c"], 400)
    stable = side(STABLE, classes, classes)
    moved = side(CANARY, np.where(rng.random(400) < 0.5, "c", classes), classes)  # half answer "c"
    shifted = checks.predictions(moved, stable, cfg, "class")
    assert shifted.verdict == "failed" and shifted.numbers["measure"] == "infinity_norm"
    spec = LabelSpec(name="y", task="multiclass")
    quality = checks.quality(moved, stable, cfg, spec)
    assert quality.verdict == "failed" and quality.numbers["stable"] == 1.0 and quality.numbers["canary"] < 0.8
    truth = rng.normal(10, 2, 400)
    exact, noisy = (
        side(STABLE, truth + rng.normal(0, 0.5, 400), truth),
        side(CANARY, truth + rng.normal(0, 2, 400), truth),
    )
    regression = checks.quality(noisy, exact, cfg, LabelSpec(name="y", task="regression"))
    assert regression.numbers["metric"] == "mean_absolute_error" and regression.verdict == "failed"
    assert regression.numbers["canary"] > regression.numbers["stable"]
    assert checks.quality(exact, noisy, cfg, LabelSpec(name="y", task="regression")).verdict == "ok"


def latencies_ms(seed: int, n: int, median: float = 20.0) -> np.ndarray:
    """Per-request latencies as servers show them: log-normal, a long right tail."""
    return np.random.default_rng(seed).lognormal(np.log(median), 0.3, n).round(3)


def test_a_slower_canary_is_rolled_back_for_latency(served, tmp_path):
    """Requests of two instances: a latency counts once per request, not once per row."""
    config, _ = served
    stable_ms, canary_ms = latencies_ms(1, 250), latencies_ms(2, 125, median=60.0)  # 3x slower
    window_dir = serverless_window(served, tmp_path, scores(2, 250), latencies=(stable_ms, canary_ms), batch=2)
    rows = pd.read_csv(Path(window_dir) / "window.csv", dtype={REQUEST_ID: str, "model_version": str})
    first = rows[rows[REQUEST_ID] == f"{CANARY}-0"]
    assert first[REQUEST_LATENCY_MS].tolist() == [canary_ms[0], canary_ms[0]]  # on each row of the request
    result, found = analysis(config, tmp_path, window_dir)
    assert result.decision == ROLLBACK and found["predictions"]["verdict"] == "ok"
    latency = found["latency"]
    assert latency["verdict"] == "failed"
    numbers = latency["numbers"]
    assert (numbers["canary_requests"], numbers["stable_requests"]) == (125, 250)
    assert numbers["canary_p95_ms"] == pytest.approx(np.quantile(canary_ms, 0.95))
    assert numbers["stable_p95_ms"] == pytest.approx(np.quantile(stable_ms, 0.95))
    assert numbers["canary_p50_ms"] == pytest.approx(np.median(canary_ms))
    assert numbers["stable_p50_ms"] == pytest.approx(np.median(stable_ms))
    assert numbers["p95_increase"] == pytest.approx(numbers["canary_p95_ms"] / numbers["stable_p95_ms"] - 1)
    assert numbers["p95_increase"] > 1.5 and numbers["p_value"] < 1e-10 and numbers["max_increase"] == 0.2
    assert result.reasons == [f"latency: {latency['detail']}"]
    assert latency["detail"].startswith(f"p95 {numbers['canary_p95_ms']:.1f} ms (canary")
    assert "| latency | failed |" in (tmp_path / "analysis" / ANALYSIS_MD).read_text()
    saved = json.loads((tmp_path / "analysis" / ANALYSIS_JSON).read_text())
    [kept] = [c for c in saved["checks"] if c["name"] == "latency"]
    assert kept["numbers"]["canary_p95_ms"] == pytest.approx(numbers["canary_p95_ms"])


def test_a_canary_as_fast_as_the_stable_passes_latency(served, tmp_path):
    config, _ = served
    stable_ms, canary_ms = latencies_ms(1, 500), latencies_ms(2, 250)
    result, found = analysis(
        config, tmp_path, serverless_window(served, tmp_path, scores(2, 250), latencies=(stable_ms, canary_ms))
    )
    assert result.decision == PROMOTE and found["latency"]["verdict"] == "ok"
    numbers = found["latency"]["numbers"]
    assert (numbers["canary_requests"], numbers["stable_requests"]) == (250, 500)
    assert abs(numbers["p95_increase"]) < 0.2 and numbers["p_value"] > 0.01
    assert any(r.startswith("latency: p95 ") for r in result.reasons)


def test_a_log_without_latencies_leaves_latency_not_judged(served, tmp_path):
    """Logs of a predictor from before latency_ms: no column, not judged, the decision as before."""
    config, _ = served
    window_dir = serverless_window(served, tmp_path, scores(2, 250))
    assert REQUEST_LATENCY_MS not in pd.read_csv(Path(window_dir) / "window.csv", nrows=1).columns
    result, found = analysis(config, tmp_path, window_dir)
    assert result.decision == PROMOTE and found["latency"]["verdict"] == "not_judged"
    assert found["latency"]["numbers"] == {"canary_requests": 0, "stable_requests": 0}
    assert found["latency"]["detail"].startswith(f"no request latencies for the canary {CANARY}")
    assert "latency: no request latencies" in " ".join(result.reasons)
    # Only the stable side logged them (an old canary image): still not judged, and says which side.
    mixed = serverless_window(served, tmp_path / "mixed", scores(2, 250), latencies=(latencies_ms(1, 500), None))
    result, found = analysis(config, tmp_path / "mixed", mixed)
    assert result.decision == PROMOTE and found["latency"]["verdict"] == "not_judged"
    assert found["latency"]["numbers"] == {"canary_requests": 0, "stable_requests": 500}


def test_latency_noise_at_a_small_window_does_not_roll_back():
    """Two samples of one distribution, 100 requests each: the p95 differs by 30% by chance
    alone (1 in 5 such pairs differ by over 20%); the rank test keeps it from failing."""
    rng = np.random.default_rng(1)
    same = [rng.lognormal(np.log(20), 0.5, 100).round(3) for _ in range(2)]

    def side(version, ms):
        ids = [f"{version}-{i}" for i in range(len(ms))]
        return Side(version, pd.DataFrame({REQUEST_ID: ids, REQUEST_LATENCY_MS: ms}), 0, "")

    stable, canary = side(STABLE, same[0]), side(CANARY, same[1])
    cfg = CanaryAnalysis()
    noisy = checks.latency(canary, stable, cfg)
    assert noisy.verdict == "ok" and noisy.numbers["p95_increase"] > 0.25 and noisy.numbers["p_value"] > 0.5
    slower = checks.latency(side(CANARY, same[1] * 2), stable, cfg)
    assert slower.verdict == "failed" and slower.numbers["p_value"] < 0.01
    few = checks.latency(side(CANARY, same[1][:60] * 2), stable, cfg)
    assert few.verdict == "not_judged" and "canary 60, stable 100; at least 100 each needed" in few.detail


def test_a_fast_canary_a_few_ms_slower_is_not_rolled_back():
    """A process serving 20% of the traffic answers a little slower than one serving 80% (the
    same model, measured: p95 +37%, about 2 ms): relative and significant, but not a rise that
    matters; min_latency_increase_ms keeps it."""
    rng = np.random.default_rng(2)
    stable_ms, canary_ms = rng.lognormal(np.log(3), 0.3, 800), rng.lognormal(np.log(4), 0.3, 200)

    def side(version, ms):
        return Side(
            version,
            pd.DataFrame({REQUEST_ID: [f"{version}-{i}" for i in range(len(ms))], REQUEST_LATENCY_MS: ms}),
            0,
            "",
        )

    found = checks.latency(side(CANARY, canary_ms), side(STABLE, stable_ms), CanaryAnalysis())
    numbers = found.numbers
    assert numbers["p95_increase"] > 0.2 and numbers["p_value"] < 0.01 and 0 < numbers["p95_increase_ms"] < 5
    assert found.verdict == "ok" and "or +5 ms" in found.detail
    strict = checks.latency(side(CANARY, canary_ms), side(STABLE, stable_ms), CanaryAnalysis(min_latency_increase_ms=1))
    assert strict.verdict == "failed"


def test_a_window_of_one_version_without_a_baseline_says_what_to_give(served, tmp_path):
    config, instances = served
    serve(tmp_path / "logs" / "pod.jsonl", CANARY, instances[:150], scores(2, 150))
    with pytest.raises(CanaryError, match="give the previous version's window as baseline_window"):
        analysis(config, tmp_path, window(config, tmp_path / "logs", tmp_path / "w"))
    with pytest.raises(CanaryError, match="is not a request window"):
        analysis(config, tmp_path, str(tmp_path / "logs"))


# ------------------------------------------------------------------------------------ acting


def isvc(mode: str, serving_version: str) -> dict:
    """An InferenceService after a Pusher's canary deploy of CANARY (the rollout's annotations)."""
    predictor = {
        "containers": [{"name": "kserve-container", "image": "i", "env": [{"name": STORAGE_ENV, "value": V2}]}]
    }
    if mode == "Serverless":
        predictor["canaryTrafficPercent"] = 10
    annotations = {ANNOTATION_PREVIOUS_URI: V1, ANNOTATION_VERSION: serving_version, ANNOTATION_STORAGE_URI: V2}
    annotations["serving.kserve.io/deploymentMode"] = mode
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": NAME, "namespace": NS, "annotations": annotations},
        "spec": {"predictor": predictor},
        "status": {"deploymentMode": mode},
    }


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeKubernetes() as fake:
        monkeypatch.setenv("KUBECONFIG", fake.kubeconfig(tmp_path / "kubeconfig"))
        for name in ("KUBERNETES_SERVICE_HOST", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID"):
            monkeypatch.delenv(name, raising=False)
        yield fake


def patches(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.method == "PATCH" and r.path == PATH]


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_canary_command_promotes_from_a_request_log(served, tmp_path, cluster, mode):
    """`tabml canary --act`: the window read from the log, the canary named by the cluster."""
    config, instances = served
    cluster.put_object(isvc(mode, CANARY))
    serve(tmp_path / "logs" / "stable.jsonl", STABLE, instances[:500], scores(1, 500))
    serve(tmp_path / "logs" / "canary.jsonl", CANARY, instances[500:750], scores(2, 250))
    result = analyse_and_act(
        config, str(tmp_path / "logs"), NS, NAME, act=True, output_dir=str(tmp_path / "out"), **DAY
    )
    assert (result.decision, result.canary_version) == (PROMOTE, CANARY)
    if mode == "RawDeployment":  # the new version already serves everything: nothing to send
        assert result.action == "already-serving (RawDeployment has no canary)" and patches(cluster) == []
        return
    assert result.action == "promoted"
    [patch] = patches(cluster)
    assert patch["spec"] == {"predictor": {"canaryTrafficPercent": 100}}
    assert patch["metadata"]["resourceVersion"]  # a concurrent change answers 409, not a lost update
    assert cluster.objects[(NS, NAME)]["spec"]["predictor"]["canaryTrafficPercent"] == 100
    saved = json.loads((tmp_path / "out" / "analysis" / ANALYSIS_JSON).read_text())
    assert saved["action"] == "promoted" and saved["rollout"]["patches"] == [patch]
    assert (tmp_path / "out" / "window" / "window.csv").exists()


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_a_rolled_back_canary_gets_the_previous_storage_uri_back(served, tmp_path, cluster, mode):
    config, _ = served
    cluster.put_object(isvc(mode, CANARY))
    shifted = serverless_window(served, tmp_path, scores(2, 250, a=5.0, b=2.0))
    result, _ = analysis(config, tmp_path, shifted, act=True, namespace=NS, name=NAME)
    assert (result.decision, result.action) == (ROLLBACK, "restored")
    sent = patches(cluster)
    restore = sent[-1]
    assert restore["spec"]["predictor"]["containers"][0]["env"] == [{"name": STORAGE_ENV, "value": V1}]
    assert restore["metadata"]["annotations"] == {ANNOTATION_PREVIOUS_URI: None, ANNOTATION_STORAGE_URI: V1}
    if mode == "Serverless":  # traffic back at once, then the spec: the canary share removed
        assert sent[0]["spec"] == {"predictor": {"canaryTrafficPercent": 0}} and len(sent) == 2
        assert restore["spec"]["predictor"]["canaryTrafficPercent"] is None
    else:
        assert len(sent) == 1 and "canaryTrafficPercent" not in restore["spec"]["predictor"]
    live = cluster.objects[(NS, NAME)]
    assert live["spec"]["predictor"]["containers"][0]["env"] == [{"name": STORAGE_ENV, "value": V1}]
    assert "canaryTrafficPercent" not in live["spec"]["predictor"]


def test_acting_refuses_when_the_service_runs_another_version(served, tmp_path, cluster):
    config, _ = served
    cluster.put_object(isvc("Serverless", "1795400000"))  # a newer push replaced the analysed canary
    shifted = serverless_window(served, tmp_path, scores(2, 250, a=5.0, b=2.0))
    inputs = Inputs(window=shifted, canary_version=CANARY, act=True, namespace=NS, name=NAME)
    with pytest.raises(CanaryError, match=f"now runs version 1795400000, not the analysed canary {CANARY}"):
        run(config, inputs, Outputs(analysis=str(tmp_path / "analysis")))
    assert patches(cluster) == []
    saved = json.loads((tmp_path / "analysis" / ANALYSIS_JSON).read_text())
    assert saved["decision"] == ROLLBACK and saved["action"].startswith("dry run")  # the analysis is kept


def test_canary_command_says_what_is_wrong(tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    result = CliRunner().invoke(app, ["canary", str(tmp_path / "no-such-log"), "--output-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "no-such-log" in result.output
