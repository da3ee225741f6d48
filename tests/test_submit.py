"""submit / schedule / runs against a local server standing in for the KFP API and the
Vertex AI endpoints; the assertions are on the request bodies the real clients sent
(kfp.Client / kfp_server_api, google-cloud-aiplatform over REST)."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from contracts.config import load_config
from pipelines.cli import app
from pipelines.compile import compiled_path
from pipelines.submit import KfpTarget, SubmitError, VertexTarget, submit_kfp, submit_vertex
from tests.conftest import REPO, TAXI_CONFIG
from tests.fake_apis import FakeApis

# The taxi example's committed packages (tests/test_compiled.py keeps them current).
CONFIG = load_config(TAXI_CONFIG)
KFP_YAML = compiled_path(CONFIG, REPO / "compiled", "kfp")
VERTEX_YAML = compiled_path(CONFIG, REPO / "compiled", "vertex")
PARAMS = ["model_registry=gs://models-bucket/registry", "epochs=3", 'value_thresholds={"AUC": {"lower_bound": 0.8}}']


@pytest.fixture
def fake(monkeypatch):
    with FakeApis() as server:
        # aiplatform checks the pipeline root's bucket (Cloud Storage) and its owner project
        # (Resource Manager) before submitting; both are GCP services that cannot run here.
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        from google.cloud.aiplatform.utils import resource_manager_utils

        monkeypatch.setattr(resource_manager_utils, "get_project_number", lambda *a, **k: "123456789")
        yield server


def uploaded_docs(request) -> list[dict]:
    """The pipeline YAML inside a multipart upload body."""
    match = re.search(rb"\r\n\r\n(.*?)\r\n--", request.body, re.S)
    return list(yaml.safe_load_all(match.group(1)))


def vertex_target(fake) -> VertexTarget:
    from google.auth.credentials import AnonymousCredentials

    return VertexTarget(
        project="my-project",
        region="europe-west4",
        pipeline_root="gs://runs-bucket/root",
        service_account="pipelines@my-project.iam.gserviceaccount.com",
        labels={"team": "ml"},
        api_endpoint=fake.url,
        credentials=AnonymousCredentials(),
    )


def test_kfp_submit_uploads_pipeline_and_creates_run(fake):
    sub = submit_kfp(
        KfpTarget(host=fake.url, experiment="nightly", service_account="pipeline-runner"),
        KFP_YAML,
        PARAMS,
        run_name="manual-1",
    )
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["name"] == [CONFIG.pipeline_name]
    spec, platform = uploaded_docs(upload)
    assert spec["pipelineInfo"]["name"] == CONFIG.pipeline_name
    trainer = next(v for v in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values())
    assert trainer["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    [experiment] = fake.find("POST", "/apis/v2beta1/experiments")
    assert experiment.json()["display_name"] == "nightly"
    [run] = fake.find("POST", "/apis/v2beta1/runs")
    body = run.json()
    assert body["display_name"] == "manual-1" and body["experiment_id"] == "experiment-1"
    assert body["pipeline_version_reference"] == {"pipeline_id": "pipeline-1", "pipeline_version_id": "version-1"}
    assert body["runtime_config"]["parameters"] == {
        "model_registry": "gs://models-bucket/registry",
        "epochs": 3,
        "value_thresholds": {"AUC": {"lower_bound": 0.8}},
    }
    assert body["service_account"] == "pipeline-runner"
    assert sub.result["run_id"] == "run-1"


def test_kfp_requests_carry_the_token_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("KFP_API_TOKEN", "token-from-env")
    submit_kfp(KfpTarget(host=fake.url, namespace="team-ml"), KFP_YAML, PARAMS)
    sent = fake.find("POST", r"/apis/v2beta1/.*") + fake.find("GET", r"/apis/v2beta1/.*")
    auth = [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in sent]
    assert len(auth) >= 5 and set(auth) == {"Bearer token-from-env"}
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["namespace"] == ["team-ml"]
    assert fake.find("POST", "/apis/v2beta1/experiments")[0].json()["namespace"] == "team-ml"


def test_kfp_second_submit_uploads_a_new_version(fake):
    submit_kfp(KfpTarget(host=fake.url), KFP_YAML, PARAMS)
    submit_kfp(KfpTarget(host=fake.url), KFP_YAML, PARAMS)
    [version] = fake.find("POST", "/apis/v2beta1/pipelines/upload_version")
    assert version.query["pipelineid"] == ["pipeline-1"]
    runs = fake.find("POST", "/apis/v2beta1/runs")
    assert runs[1].json()["pipeline_version_reference"]["pipeline_version_id"] == "version-2"


def test_kfp_no_cache_uploads_a_version_without_caching(fake):
    submit_kfp(KfpTarget(host=fake.url), KFP_YAML, PARAMS, caching=False)
    spec, _ = uploaded_docs(fake.find("POST", "/apis/v2beta1/pipelines/upload")[0])
    assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())


def test_kfp_schedule_creates_a_recurring_run(fake):
    submit_kfp(KfpTarget(host=fake.url, service_account="pipeline-runner"), KFP_YAML, PARAMS, cron="0 3 * * *")
    [rec] = fake.find("POST", "/apis/v2beta1/recurringruns")
    body = rec.json()
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}  # KFP's six-field cron
    assert body["mode"] == "ENABLE" and body["max_concurrency"] == "1" and body["no_catchup"] is True
    assert body["runtime_config"]["parameters"]["epochs"] == 3
    assert body["service_account"] == "pipeline-runner"
    assert not fake.find("POST", "/apis/v2beta1/runs")


def test_vertex_submit_creates_a_pipeline_job(fake):
    sub = submit_vertex(vertex_target(fake), VERTEX_YAML, PARAMS, run_name="manual-1", caching=False)
    [create] = fake.find("POST", "/v1/projects/my-project/locations/europe-west4/pipelineJobs")
    body = create.json()
    assert body["displayName"] == "manual-1"
    assert body["serviceAccount"] == "pipelines@my-project.iam.gserviceaccount.com"
    assert body["labels"]["team"] == "ml"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://runs-bucket/root"
    assert body["runtimeConfig"]["parameterValues"] == {
        "model_registry": "gs://models-bucket/registry",
        "epochs": 3,
        "value_thresholds": {"AUC": {"lower_bound": 0.8}},
    }
    spec = body["pipelineSpec"]
    trainer = spec["deploymentSpec"]["executors"]["exec-trainer"]["container"]["resources"]
    assert trainer["accelerator"]["resourceType"] == "NVIDIA_L4"
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in spec["root"]["dag"]["tasks"].values())
    assert sub.result["pipeline_job"].startswith("projects/my-project/locations/europe-west4/pipelineJobs/")


def test_vertex_schedule_creates_a_pipeline_job_schedule(fake):
    submit_vertex(vertex_target(fake), VERTEX_YAML, PARAMS, cron="0 3 * * *")
    [create] = fake.find("POST", "/v1/projects/my-project/locations/europe-west4/schedules")
    body = create.json()
    assert body["cron"] == "0 3 * * *" and body["maxConcurrentRunCount"] == "1"
    job = body["createPipelineJobRequest"]["pipelineJob"]
    assert body["createPipelineJobRequest"]["parent"] == "projects/my-project/locations/europe-west4"
    assert job["serviceAccount"] == "pipelines@my-project.iam.gserviceaccount.com"
    assert job["runtimeConfig"]["parameterValues"]["epochs"] == 3
    assert not fake.find("POST", r".*/pipelineJobs")


def test_bad_submissions_say_what_to_change(fake):
    with pytest.raises(SubmitError, match=r"--param epoch: the pipeline has no such parameter; it has \['data_source'"):
        submit_kfp(KfpTarget(host=fake.url), KFP_YAML, ["epoch=3"])
    with pytest.raises(SubmitError, match=r"--param epochs='three': expected a NUMBER_INTEGER value"):
        submit_kfp(KfpTarget(host=fake.url), KFP_YAML, ["epochs=three"])
    with pytest.raises(SubmitError, match="a local path: a cluster run would push into the pod's own disk"):
        submit_kfp(KfpTarget(host=fake.url), KFP_YAML, [])
    with pytest.raises(SubmitError, match="Vertex needs a gs:// location"):
        target = vertex_target(fake)
        target.pipeline_root = "/tmp/root"
        submit_vertex(target, VERTEX_YAML, PARAMS)
    with pytest.raises(SubmitError, match="expected 5 fields"):
        submit_kfp(KfpTarget(host=fake.url), KFP_YAML, PARAMS, cron="daily")
    with pytest.raises(SubmitError, match="expected 5 fields"):  # Vertex takes no seconds field
        submit_vertex(vertex_target(fake), VERTEX_YAML, PARAMS, cron="0 0 3 * * *")
    assert fake.find("POST", r".*") == []  # nothing was sent for any of them


def test_cli_dry_run_prints_the_requests_and_sends_nothing(fake):
    runner = CliRunner()
    config = ["--config", str(TAXI_CONFIG)]
    kfp = runner.invoke(app, ["submit", "-t", "kfp", *config, "--host", fake.url, "--dry-run", "-p", PARAMS[0]])
    assert kfp.exit_code == 0, kfp.output
    assert "POST /apis/v2beta1/runs" in kfp.output and '"model_registry": "gs://models-bucket/registry"' in kfp.output
    vertex = runner.invoke(
        app,
        [
            "schedule",
            "-t",
            "vertex",
            *config,
            "--cron",
            "0 3 * * *",
            "--project",
            "p",
            "--pipeline-root",
            "gs://b/root",
            "--dry-run",
            "-p",
            PARAMS[0],
        ],
    )
    assert vertex.exit_code == 0, vertex.output
    assert "POST /v1/projects/p/locations/us-central1/schedules" in vertex.output
    assert '"cron": "0 3 * * *"' in vertex.output and '"gcsOutputDirectory": "gs://b/root"' in vertex.output
    assert '"enableCache": true' not in vertex.output  # schedules default to no caching
    assert fake.requests == []
    assert f"POST /apis/v2beta1/pipelines/upload?name={CONFIG.pipeline_name}" in kfp.output
    assert '"display_name": "tabml"' in kfp.output  # the default experiment
    missing = runner.invoke(app, ["submit", "-t", "kfp", *config, "--dry-run"])
    assert missing.exit_code == 2 and "needs --host" in missing.output


def test_cli_runs_lists_kfp_runs(fake):
    result = CliRunner().invoke(app, ["runs", "-t", "kfp", "--host", fake.url])
    assert result.exit_code == 0, result.output
    assert "run-1" in result.output and "SUCCEEDED" in result.output
    [listing] = fake.find("GET", "/apis/v2beta1/runs")
    assert listing.query["sort_by"] == ["created_at desc"]


@pytest.mark.parametrize("example", sorted(p.parent.name for p in (REPO / "examples").glob("*/config.yaml")))
def test_every_example_package_submits(fake, example):
    config = load_config(REPO / "examples" / example / "config.yaml")
    submit_kfp(KfpTarget(host=fake.url), compiled_path(config, REPO / "compiled", "kfp"), PARAMS[:2])
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["name"] == [config.pipeline_name]
    submit_vertex(vertex_target(fake), compiled_path(config, REPO / "compiled", "vertex"), PARAMS[:2])
    [create] = fake.find("POST", "/v1/projects/my-project/locations/europe-west4/pipelineJobs")
    assert create.json()["pipelineSpec"]["pipelineInfo"]["name"] == config.pipeline_name
    assert create.json()["runtimeConfig"]["parameterValues"] == {
        "model_registry": "gs://models-bucket/registry",
        "epochs": 3,
    }
