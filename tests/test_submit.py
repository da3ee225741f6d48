"""submit / schedule / runs against a local server standing in for the KFP API and the
Vertex AI endpoints; the assertions are on the request bodies the real clients sent
(kfp.Client / kfp_server_api, google-cloud-aiplatform over REST)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from typer.testing import CliRunner

from components.images import images_for
from contracts.config import load_config
from pipelines.cli import app
from pipelines.compile import compile_all, compiled_path
from pipelines.submit import KfpTarget, SubmitError, VertexTarget, submit_kfp, submit_vertex
from tests.conftest import REPO, TAXI_CONFIG
from tests.fake_apis import FakeApis

CONFIG = load_config(TAXI_CONFIG)
EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/config.yaml"))
PARAMS = ["model_registry=gs://models-bucket/registry", "epochs=3", 'value_thresholds={"AUC": {"lower_bound": 0.8}}']
IMAGES = images_for("us-docker.pkg.dev/my-project/tabml", "abc1234")


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """Every example compiled against pushed images, as delivery compiles them (the committed
    compiled/ names placeholder images, which submit refuses)."""
    out = tmp_path_factory.mktemp("compiled")
    for example in EXAMPLES:
        compile_all(load_config(REPO / "examples" / example / "config.yaml"), out, IMAGES)
    return out


@pytest.fixture
def kfp_yaml(compiled):
    return compiled_path(CONFIG, compiled, "kfp")


@pytest.fixture
def vertex_yaml(compiled):
    return compiled_path(CONFIG, compiled, "vertex")


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


def test_kfp_submit_uploads_pipeline_and_creates_run(fake, kfp_yaml):
    sub = submit_kfp(
        KfpTarget(host=fake.url, experiment="nightly", service_account="pipeline-runner"),
        kfp_yaml,
        PARAMS,
        run_name="manual-1",
    )
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["name"] == [CONFIG.pipeline_name]
    spec, platform = uploaded_docs(upload)
    assert spec["pipelineInfo"]["name"] == CONFIG.pipeline_name
    trainer = next(v for v in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values())
    assert trainer["nodeSelector"]["labels"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
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


def test_kfp_requests_carry_the_token_from_the_environment(fake, monkeypatch, kfp_yaml):
    monkeypatch.setenv("KFP_API_TOKEN", "token-from-env")
    submit_kfp(KfpTarget(host=fake.url, namespace="team-ml"), kfp_yaml, PARAMS)
    sent = fake.find("POST", r"/apis/v2beta1/.*") + fake.find("GET", r"/apis/v2beta1/.*")
    auth = [{k.lower(): v for k, v in r.headers.items()}.get("authorization") for r in sent]
    assert len(auth) >= 5 and set(auth) == {"Bearer token-from-env"}
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["namespace"] == ["team-ml"]
    assert fake.find("POST", "/apis/v2beta1/experiments")[0].json()["namespace"] == "team-ml"


def test_kfp_second_submit_uploads_a_new_version(fake, kfp_yaml):
    submit_kfp(KfpTarget(host=fake.url), kfp_yaml, PARAMS)
    submit_kfp(KfpTarget(host=fake.url), kfp_yaml, PARAMS)
    [version] = fake.find("POST", "/apis/v2beta1/pipelines/upload_version")
    assert version.query["pipelineid"] == ["pipeline-1"]
    runs = fake.find("POST", "/apis/v2beta1/runs")
    assert runs[1].json()["pipeline_version_reference"]["pipeline_version_id"] == "version-2"


def test_kfp_no_cache_uploads_a_version_without_caching(fake, kfp_yaml):
    submit_kfp(KfpTarget(host=fake.url), kfp_yaml, PARAMS, caching=False)
    spec, _ = uploaded_docs(fake.find("POST", "/apis/v2beta1/pipelines/upload")[0])
    assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())


def test_kfp_schedule_creates_a_recurring_run(fake, kfp_yaml):
    submit_kfp(KfpTarget(host=fake.url, service_account="pipeline-runner"), kfp_yaml, PARAMS, cron="0 3 * * *")
    [rec] = fake.find("POST", "/apis/v2beta1/recurringruns")
    body = rec.json()
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}  # KFP's six-field cron
    assert body["mode"] == "ENABLE" and body["max_concurrency"] == "1" and body["no_catchup"] is True
    assert body["runtime_config"]["parameters"]["epochs"] == 3
    assert body["service_account"] == "pipeline-runner"
    assert not fake.find("POST", "/apis/v2beta1/runs")


def test_vertex_submit_creates_a_pipeline_job(fake, vertex_yaml):
    sub = submit_vertex(vertex_target(fake), vertex_yaml, PARAMS, run_name="manual-1", caching=False)
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


def test_vertex_schedule_creates_a_pipeline_job_schedule(fake, vertex_yaml):
    submit_vertex(vertex_target(fake), vertex_yaml, PARAMS, cron="0 3 * * *")
    [create] = fake.find("POST", "/v1/projects/my-project/locations/europe-west4/schedules")
    body = create.json()
    assert body["cron"] == "0 3 * * *" and body["maxConcurrentRunCount"] == "1"
    job = body["createPipelineJobRequest"]["pipelineJob"]
    assert body["createPipelineJobRequest"]["parent"] == "projects/my-project/locations/europe-west4"
    assert job["serviceAccount"] == "pipelines@my-project.iam.gserviceaccount.com"
    assert job["runtimeConfig"]["parameterValues"]["epochs"] == 3
    assert not fake.find("POST", r".*/pipelineJobs")


def test_bad_submissions_say_what_to_change(fake, kfp_yaml, vertex_yaml):
    with pytest.raises(
        SubmitError, match=r"--param epoch: the pipeline has no such parameter; it has \[.*'data_source'"
    ):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, ["epoch=3"])
    with pytest.raises(SubmitError, match=r"--param epochs='three': expected a NUMBER_INTEGER value"):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, ["epochs=three"])
    with pytest.raises(SubmitError, match="a local path: a cluster run would push into the pod's own disk"):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, ["model_registry=artifacts/registry"])
    with pytest.raises(SubmitError, match="model_registry is (empty|'artifacts/registry').*model_registry=gs://"):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, [])  # the compiled default is no cluster's registry
    with pytest.raises(SubmitError, match="Vertex needs a gs:// location"):
        target = vertex_target(fake)
        target.pipeline_root = "/tmp/root"
        submit_vertex(target, vertex_yaml, PARAMS)
    with pytest.raises(SubmitError, match="expected 5 fields"):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, PARAMS, cron="daily")
    with pytest.raises(SubmitError, match="expected 5 fields"):  # Vertex takes no seconds field
        submit_vertex(vertex_target(fake), vertex_yaml, PARAMS, cron="0 0 3 * * *")
    assert fake.find("POST", r".*") == []  # nothing was sent for any of them


def test_cli_dry_run_prints_the_requests_and_sends_nothing(fake, kfp_yaml, vertex_yaml):
    runner = CliRunner()
    config = ["--config", str(TAXI_CONFIG)]
    kfp = runner.invoke(
        app,
        ["submit", "-t", "kfp", *config, "--package", str(kfp_yaml), "--host", fake.url, "--dry-run", "-p", PARAMS[0]],
    )
    assert kfp.exit_code == 0, kfp.output
    assert "POST /apis/v2beta1/runs" in kfp.output and '"model_registry": "gs://models-bucket/registry"' in kfp.output
    vertex = runner.invoke(
        app,
        [
            "schedule",
            "-t",
            "vertex",
            *config,
            "--package",
            str(vertex_yaml),
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
    assert f'"displayName": "{CONFIG.pipeline_name}-schedule"' in vertex.output  # the one it replaces
    assert "DELETE /v1/projects/p/locations/us-central1/schedules/<each one listed>" in vertex.output
    assert '"cron": "0 3 * * *"' in vertex.output and '"gcsOutputDirectory": "gs://b/root"' in vertex.output
    assert '"enableCache": true' not in vertex.output  # schedules default to no caching
    assert fake.requests == []
    assert f"POST /apis/v2beta1/pipelines/upload?name={CONFIG.pipeline_name}" in kfp.output
    assert '"display_name": "tabml"' in kfp.output  # the default experiment
    missing = runner.invoke(app, ["submit", "-t", "kfp", *config, "--dry-run"])
    assert missing.exit_code == 2 and "needs --host" in missing.output
    # The default package is the committed compiled/ one, with placeholder images.
    committed = runner.invoke(app, ["submit", "-t", "kfp", *config, "--host", fake.url, "-p", PARAMS[0]])
    assert committed.exit_code == 2 and "placeholder images" in committed.output, committed.output
    assert fake.requests == []


def test_cli_runs_lists_kfp_runs(fake):
    result = CliRunner().invoke(app, ["runs", "-t", "kfp", "--host", fake.url])
    assert result.exit_code == 0, result.output
    assert "run-1" in result.output and "SUCCEEDED" in result.output
    [listing] = fake.find("GET", "/apis/v2beta1/runs")
    assert listing.query["sort_by"] == ["created_at desc"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_package_submits(fake, compiled, example):
    config = load_config(REPO / "examples" / example / "config.yaml")
    submit_kfp(KfpTarget(host=fake.url), compiled_path(config, compiled, "kfp"), PARAMS[:2])
    [upload] = fake.find("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["name"] == [config.pipeline_name]
    submit_vertex(vertex_target(fake), compiled_path(config, compiled, "vertex"), PARAMS[:2])
    [create] = fake.find("POST", "/v1/projects/my-project/locations/europe-west4/pipelineJobs")
    assert create.json()["pipelineSpec"]["pipelineInfo"]["name"] == config.pipeline_name
    assert create.json()["runtimeConfig"]["parameterValues"] == {
        "model_registry": "gs://models-bucket/registry",
        "epochs": 3,
    }
    executors = create.json()["pipelineSpec"]["deploymentSpec"]["executors"].values()
    images = {e["container"]["image"] for e in executors}
    assert IMAGES.cpu in images and images <= {IMAGES.cpu, IMAGES.gpu}, images


@pytest.mark.parametrize("example", EXAMPLES)
def test_committed_packages_are_refused_for_their_placeholder_images(fake, example):
    """compiled/ is generated against us-docker.pkg.dev/YOUR_PROJECT/tabml: a cluster would
    fail every step with ImagePullBackOff, so nothing is sent."""
    config = load_config(REPO / "examples" / example / "config.yaml")
    for target, submit, where in (
        ("kfp", submit_kfp, KfpTarget(host=fake.url)),
        ("vertex", submit_vertex, vertex_target(fake)),
    ):
        package = compiled_path(config, REPO / "compiled", target)
        for cron in ("", "0 3 * * *"):
            with pytest.raises(SubmitError, match=r"placeholder images .*YOUR_PROJECT.*--image-registry REGISTRY"):
                submit(where, package, PARAMS[:2], cron=cron)
            with pytest.raises(SubmitError, match="placeholder images"):
                submit(where, package, PARAMS[:2], cron=cron, dry_run=True)
    assert fake.requests == []


def test_kfp_schedule_twice_replaces_the_recurring_run(fake, kfp_yaml):
    """A second delivery lists the pipeline's recurring run by name, creates the new one,
    then deletes the old one: one schedule per pipeline, never none."""
    target = KfpTarget(host=fake.url, experiment="nightly")
    first = submit_kfp(target, kfp_yaml, PARAMS, cron="0 3 * * *")
    assert first.result["replaced"] == []
    second = submit_kfp(target, kfp_yaml, [*PARAMS[:1], "epochs=4"], cron="0 4 * * *")
    listings = fake.find("GET", "/apis/v2beta1/recurringruns")
    assert len(listings) == 2 and listings[1].query["experiment_id"] == ["experiment-1"]
    [predicate] = json.loads(listings[1].query["filter"][0])["predicates"]
    assert predicate == {
        "operation": "EQUALS",
        "key": "display_name",
        "stringValue": f"{CONFIG.pipeline_name}-schedule",
    }
    creates = fake.find("POST", "/apis/v2beta1/recurringruns")
    assert [c.json()["display_name"] for c in creates] == [f"{CONFIG.pipeline_name}-schedule"] * 2
    [delete] = fake.find("DELETE", r"/apis/v2beta1/recurringruns/.*")
    assert delete.path == f"/apis/v2beta1/recurringruns/{first.result['recurring_run_id']}"
    assert fake.requests.index(delete) > fake.requests.index(creates[1])  # created before the old one goes
    [kept] = fake.recurring_runs.values()
    assert kept["recurring_run_id"] == second.result["recurring_run_id"] and second.result["replaced"] == [
        "recurring-1"
    ]
    assert kept["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * *"
    assert kept["runtime_config"]["parameters"]["epochs"] == 4
    assert kept["pipeline_version_reference"]["pipeline_version_id"] == "version-2"  # the new package
    submit_kfp(target, kfp_yaml, PARAMS, cron="0 3 * * *", run_name="hourly")  # another name: kept apart
    assert len(fake.recurring_runs) == 2


def test_vertex_schedule_twice_replaces_the_schedule(fake, vertex_yaml):
    parent = "projects/my-project/locations/europe-west4"
    first = submit_vertex(vertex_target(fake), vertex_yaml, PARAMS, cron="0 3 * * *")
    second = submit_vertex(vertex_target(fake), vertex_yaml, [*PARAMS[:1], "epochs=4"], cron="0 4 * * *")
    listings = fake.find("GET", f"/v1/{parent}/schedules")
    assert [r.query["filter"] for r in listings] == [[f'display_name="{CONFIG.pipeline_name}-schedule"']] * 2
    creates = fake.find("POST", f"/v1/{parent}/schedules")
    assert len(creates) == 2
    [delete] = fake.find("DELETE", f"/v1/{parent}/schedules/.*")
    assert delete.path == f"/v1/{first.result['schedule']}"
    assert fake.requests.index(delete) > fake.requests.index(creates[1])  # created before the old one goes
    [kept] = fake.schedules.values()
    assert kept["name"] == second.result["schedule"] and second.result["replaced"] == [first.result["schedule"]]
    assert kept["displayName"] == f"{CONFIG.pipeline_name}-schedule" and kept["cron"] == "0 4 * * *"
    assert kept["createPipelineJobRequest"]["pipelineJob"]["runtimeConfig"]["parameterValues"]["epochs"] == 4


def test_cli_schedule_name_overrides_the_schedule_display_name(fake, kfp_yaml):
    args = ["schedule", "-t", "kfp", "--package", str(kfp_yaml), "--host", fake.url, "--cron", "0 3 * * *"]
    for _ in range(2):
        result = CliRunner().invoke(app, [*args, "--name", "nightly-taxi", "-p", PARAMS[0]])
        assert result.exit_code == 0, result.output
    assert [r["display_name"] for r in fake.recurring_runs.values()] == ["nightly-taxi"]


def _task_caching(spec: dict) -> dict[str, bool]:
    return {name: bool(t["cachingOptions"].get("enableCache")) for name, t in spec["root"]["dag"]["tasks"].items()}


def test_one_off_runs_carry_the_data_fingerprint_and_schedules_do_not(fake, kfp_yaml, vertex_yaml):
    """ExampleGen is cached only on a data_fingerprint: a one-off run of remote data gets the
    data's; a schedule none (a fingerprint taken now would be stale by the next tick)."""
    import tensorflow as tf

    from components.example_gen.fingerprint import data_fingerprint

    source = "ram://submit-test/data.csv"  # a remote filesystem gfile has in memory
    with tf.io.gfile.GFile(source, "w") as f:
        f.write("a,b\n1,2\n")
    params = [*PARAMS, f"data_source={source}"]
    submit_kfp(KfpTarget(host=fake.url), kfp_yaml, params)
    [run] = fake.find("POST", "/apis/v2beta1/runs")
    assert run.json()["runtime_config"]["parameters"]["data_fingerprint"] == data_fingerprint(source)
    spec, _ = uploaded_docs(fake.find("POST", "/apis/v2beta1/pipelines/upload")[0])
    cached = _task_caching(spec)
    assert cached["example-gen"] and cached["trainer"] and not cached["pusher"]

    submit_vertex(vertex_target(fake), vertex_yaml, params, cron="0 3 * * *", caching=True)
    [schedule] = fake.find("POST", r".*/schedules")
    job = schedule.json()["createPipelineJobRequest"]["pipelineJob"]
    assert "data_fingerprint" not in job["runtimeConfig"]["parameterValues"]
    assert not _task_caching(job["pipelineSpec"])["example-gen"] and _task_caching(job["pipelineSpec"])["trainer"]
    with pytest.raises(SubmitError, match="a fixed fingerprint would be wrong"):
        submit_vertex(vertex_target(fake), vertex_yaml, [*params, "data_fingerprint=abc"], cron="0 3 * * *")

    # A path inside the image: its files there are not the ones here, so no fingerprint.
    submit_vertex(vertex_target(fake), vertex_yaml, PARAMS, caching=True)
    [job] = [r.json() for r in fake.find("POST", r".*/pipelineJobs")]
    assert "data_fingerprint" not in job["runtimeConfig"]["parameterValues"]
    assert not _task_caching(job["pipelineSpec"])["example-gen"]
    with pytest.raises(SubmitError, match="ram://submit-test/missing.csv: cannot list its files"):
        submit_kfp(KfpTarget(host=fake.url), kfp_yaml, [*PARAMS, "data_source=ram://submit-test/missing.csv"])


def test_vertex_submit_takes_where_from_the_configs_cloud_section(fake, vertex_yaml, tmp_path):
    """terraform's tabml_cloud_config output pasted as `cloud:`: no --project / --pipeline-root."""
    data = yaml.safe_load(TAXI_CONFIG.read_text())
    data["cloud"] = {"project": "tf-project", "region": "europe-west4", "pipeline_root": "gs://tf-pipelines/root"}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    args = ["submit", "-t", "vertex", "--config", str(config), "--package", str(vertex_yaml), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "-p", PARAMS[0]])
    assert result.exit_code == 0, result.output
    assert "POST /v1/projects/tf-project/locations/europe-west4/pipelineJobs" in result.output
    assert '"gcsOutputDirectory": "gs://tf-pipelines/root"' in result.output
    flags = CliRunner().invoke(app, [*args, "-p", PARAMS[0], "--project", "p", "--region", "us-east1"])
    assert "POST /v1/projects/p/locations/us-east1/pipelineJobs" in flags.output  # flags win


def test_a_data_source_the_submitter_may_not_list_runs_uncached(fake, kfp_yaml, monkeypatch):
    """GCS answers 403 to the submitter (the run's service account may still read it): the run
    goes without a fingerprint, so ExampleGen is not cached, instead of failing the delivery."""
    import tensorflow as tf

    from components.example_gen import fingerprint

    def denied(source, extra_data=""):
        raise tf.errors.PermissionDeniedError(None, None, f"403 on {source}")

    monkeypatch.setattr(fingerprint, "data_fingerprint", denied)
    submit_kfp(KfpTarget(host=fake.url), kfp_yaml, [*PARAMS, "data_source=gs://data-bucket/rows/*.csv"])
    [run] = fake.find("POST", "/apis/v2beta1/runs")
    assert "data_fingerprint" not in run.json()["runtime_config"]["parameters"]
    spec, _ = uploaded_docs(fake.find("POST", "/apis/v2beta1/pipelines/upload")[0])
    assert not _task_caching(spec)["example-gen"] and _task_caching(spec)["trainer"]
