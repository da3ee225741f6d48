"""Submit, schedule and list runs of a compiled pipeline on Kubeflow Pipelines (kfp.Client)
or Vertex AI Pipelines (aiplatform.PipelineJob / PipelineJobSchedule).

Credentials come from the usual places, never from the repository:
  - KFP: a bearer token in $KFP_API_TOKEN (e.g. an IAP or OIDC token for the cluster's
    ingress), else, inside a pod, the projected ServiceAccount token kfp reads
    ($KF_PIPELINES_SA_TOKEN_PATH or /var/run/secrets/kubeflow/pipelines/token);
  - Vertex: application default credentials.

A package must name pushed images (compiled with --image-registry/--image-tag), not the
placeholders compiled/ is generated with. A schedule replaces the pipeline's schedule of the
same name (create the new, then delete the old), so each delivery leaves one.

Every call builds its request bodies first; with dry_run=True they are returned (and
printed by the CLI) instead of sent, so what `--dry-run` shows is what would be sent.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.common.io import log

# KFP's parameter types in a compiled spec -> how a CLI string becomes a value.
_CASTS = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "NUMBER_DOUBLE": float,
    "BOOLEAN": lambda v: {"true": True, "false": False}[v.lower()],
    "STRUCT": json.loads,
    "LIST": json.loads,
}


class SubmitError(ValueError):
    """A submission that cannot be made as asked; the message says what to change."""


@dataclass
class Submission:
    """What was (or, for a dry run, would be) sent: one entry per API request."""

    target: str
    requests: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)

    def add(self, method: str, url: str, body: Any) -> None:
        self.requests.append({"method": method, "url": url, "body": body})


def load_package(package: str | Path) -> list[dict]:
    """The YAML documents of a compiled pipeline: the pipeline spec, then (KFP variant) the
    Kubernetes platform spec."""
    path = Path(package)
    if not path.is_file():
        raise SubmitError(f"compiled pipeline not found: {path} (run `tabml compile` first)")
    docs = list(yaml.safe_load_all(path.read_text()))
    if not docs or not isinstance(docs[0], dict) or "pipelineInfo" not in docs[0]:
        raise SubmitError(f"{path} is not a compiled KFP v2 pipeline spec")
    return docs


def load_spec(package: str | Path) -> dict:
    return load_package(package)[0]


def parse_params(spec: dict, pairs: list[str]) -> dict[str, Any]:
    """`name=value` strings -> typed values, checked against the pipeline's parameters."""
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SubmitError(f"--param {pair!r}: expected name=value")
        if name not in declared:
            raise SubmitError(f"--param {name}: the pipeline has no such parameter; it has {sorted(declared)}")
        kind = declared[name]["parameterType"]
        try:
            params[name] = _CASTS[kind](text)
        except (ValueError, KeyError, json.JSONDecodeError):
            raise SubmitError(f"--param {name}={text!r}: expected a {kind} value") from None
    return params


def check_cluster_paths(spec: dict, params: dict) -> None:
    """A cluster run must not push into a pod's own disk, where the model would be lost."""
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    registry = params.get("model_registry", defaults.get("model_registry", {}).get("defaultValue", ""))
    if "://" not in registry:
        what = f"{registry!r}, a local path: a cluster run would push into the pod's own disk" if registry else "empty"
        raise SubmitError(f"model_registry is {what}. Pass --param model_registry=gs://BUCKET/models")


def check_images(spec: dict, package: str | Path) -> None:
    """A package compiled without --image-registry/--image-tag names the placeholder images
    compiled/ is generated with; a cluster would fail every step with ImagePullBackOff."""
    from components.images import PIPELINE_IMAGE
    from pipelines.compile import DEFAULT_IMAGE_REGISTRY

    placeholder = DEFAULT_IMAGE_REGISTRY.rstrip("/") + "/"
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    images = sorted({e["container"]["image"] for e in executors.values() if "container" in e})
    bad = [i for i in images if i.startswith(placeholder) or i == PIPELINE_IMAGE]
    if bad:
        raise SubmitError(
            f"{package} names placeholder images no cluster can pull ({', '.join(bad)}). Compile it "
            "against the images you pushed: `tabml compile --config CONFIG --image-registry REGISTRY "
            "--image-tag TAG --output-dir build/compiled` (as cloudbuild.yaml does), then pass "
            "--package build/compiled/PIPELINE.TARGET.yaml"
        )


def schedule_name(pipeline_name: str, name: str = "") -> str:
    """The schedule's display name: `schedule` replaces the one of this name, so a pipeline
    keeps one schedule however often it is delivered."""
    return name or f"{pipeline_name}-schedule"


def fill_data_fingerprint(spec: dict, values: dict, cron: str) -> str:
    """Sets the data_fingerprint parameter of a one-off run (ExampleGen's cache key then
    follows the data) and returns it; empty where it must stay empty."""
    if "data_fingerprint" not in spec["root"].get("inputDefinitions", {}).get("parameters", {}):
        return ""  # a package compiled before the parameter existed
    if cron:
        # A schedule sends the same parameters every tick: a fingerprint taken now would be
        # stale by the next tick's data. Left empty, ExampleGen is not cached and reads the data.
        if values.get("data_fingerprint"):
            raise SubmitError(
                "--param data_fingerprint: a schedule's runs read new data every tick, so a fixed "
                "fingerprint would be wrong; leave it out (ExampleGen then runs uncached)"
            )
        return ""
    if values.get("data_fingerprint"):
        return values["data_fingerprint"]
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    source = values.get("data_source", defaults.get("data_source", {}).get("defaultValue", ""))
    extra = values.get("extra_data", "")  # ExampleGen fingerprints the extra data's files too
    if "://" not in source or (extra and "://" not in extra):
        # A path inside the image: the files there are not the ones here (other mtimes), so a
        # fingerprint taken here would not match; ExampleGen then runs uncached.
        return ""
    import tensorflow as tf

    from components.example_gen.fingerprint import data_fingerprint

    try:
        values["data_fingerprint"] = data_fingerprint(source, extra)
    except tf.errors.PermissionDeniedError as err:
        # The submitter may not read what the run's service account can: run uncached.
        log.warning("data_source %s: no permission to list it here (%s); ExampleGen runs uncached", source, err)
        return ""
    except (OSError, tf.errors.OpError) as err:
        raise SubmitError(
            f"data_source {source}: cannot list its files to fingerprint them ({err}). Check the path "
            "and your credentials, or pass --param data_fingerprint=... yourself"
        ) from None
    return values["data_fingerprint"]


def _run_spec(spec: dict, values: dict, caching: bool, cron: str) -> dict:
    """The spec with this run's caching: ExampleGen's only with a data_fingerprint, never the
    registry's readers and writers (training_pipeline.run_caching)."""
    from pipelines.training_pipeline import run_caching

    return run_caching(spec, caching, fill_data_fingerprint(spec, values, cron))


def kfp_cron(cron: str) -> str:
    """KFP's scheduler takes six fields (seconds first); Vertex and crontab take five."""
    fields = cron.split()
    if len(fields) == 5:
        return "0 " + cron
    if len(fields) == 6:
        return cron
    raise SubmitError(f"--cron {cron!r}: expected 5 fields (minute hour day month weekday)")


def _timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")


# ---------------------------------------------------------------- Kubeflow Pipelines


@dataclass
class KfpTarget:
    host: str
    experiment: str = "tabml"
    namespace: str | None = None
    service_account: str = ""


def _kfp_client(target: KfpTarget):
    import os

    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    kwargs: dict[str, Any] = {"host": target.host}
    if target.namespace:  # otherwise kfp keeps the namespace of the user's kfp context
        kwargs["namespace"] = target.namespace
    token_path = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH", "/var/run/secrets/kubeflow/pipelines/token")
    if os.environ.get("KFP_API_TOKEN"):
        kwargs["existing_token"] = os.environ["KFP_API_TOKEN"]
    elif os.path.exists(token_path):
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=token_path)
    return kfp.Client(**kwargs)


def _upload(
    client,
    docs: list[dict],
    pipeline_name: str,
    version_name: str,
    sub: Submission,
    dry_run: bool,
    namespace: str | None = None,
):
    """Uploads the package as a new version of the pipeline (creating the pipeline on first use)."""
    pipeline_id = None if dry_run else client.get_pipeline_id(pipeline_name)
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / f"{pipeline_name}.yaml"
        package.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        if pipeline_id is None:
            # A dry run does not look the pipeline up: when it exists, a version is uploaded instead.
            sub.add(
                "POST",
                f"/apis/v2beta1/pipelines/upload?name={pipeline_name}",
                {"uploadfile": f"<{package.name}: the pipeline spec>", "name": pipeline_name},
            )
            if dry_run:
                return "<pipeline_id>", "<pipeline_version_id>"
            pipeline = client.upload_pipeline(str(package), pipeline_name=pipeline_name, namespace=namespace)
            versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
            return pipeline.pipeline_id, versions[0].pipeline_version_id
        sub.add(
            "POST",
            f"/apis/v2beta1/pipelines/upload_version?name={version_name}&pipelineid={pipeline_id}",
            {"uploadfile": f"<{package.name}: the pipeline spec>", "name": version_name},
        )
        version = client.upload_pipeline_version(
            str(package), pipeline_version_name=version_name, pipeline_id=pipeline_id
        )
        return pipeline_id, version.pipeline_version_id


def _experiment_id(client, target: KfpTarget, sub: Submission, dry_run: bool) -> str:
    sub.add(
        "POST",
        "/apis/v2beta1/experiments (unless it exists)",
        {"display_name": target.experiment, "namespace": target.namespace},
    )
    return (
        "<experiment_id>"
        if dry_run
        else client.create_experiment(target.experiment, namespace=target.namespace).experiment_id
    )


def _recurring_runs_named(client, experiment_id: str, display_name: str) -> list[str]:
    """Ids of the experiment's recurring runs with this display name (every page)."""
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": display_name}]})
    ids, token = [], ""
    while True:
        page = client.list_recurring_runs(page_token=token, page_size=100, experiment_id=experiment_id, filter=flt)
        ids += [r.recurring_run_id for r in page.recurring_runs or [] if r.display_name == display_name]
        token = page.next_page_token
        if not token:
            return ids


def submit_kfp(
    target: KfpTarget,
    package: str | Path,
    params: list[str],
    run_name: str = "",
    caching: bool = True,
    dry_run: bool = False,
    cron: str = "",
    max_concurrency: int = 1,
) -> Submission:
    """Upload pipeline + version, then create a run (or, with `cron`, replace the pipeline's
    recurring run: `run_name` or `<pipeline>-schedule`)."""
    import kfp_server_api as api

    docs = load_package(package)
    check_images(docs[0], package)
    values = parse_params(docs[0], params)
    check_cluster_paths(docs[0], values)
    cron = kfp_cron(cron) if cron else ""  # checked before anything is sent
    spec = _run_spec(docs[0], values, caching, cron)
    name = spec["pipelineInfo"]["name"]
    stamp = _timestamp()
    sub = Submission("kfp")
    client = None if dry_run else _kfp_client(target)
    pipeline_id, version_id = _upload(
        client, [spec, *docs[1:]], name, f"{name}-{stamp}", sub, dry_run, target.namespace
    )
    experiment_id = _experiment_id(client, target, sub, dry_run)
    version_ref = api.V2beta1PipelineVersionReference(pipeline_id=pipeline_id, pipeline_version_id=version_id)
    runtime = api.V2beta1RuntimeConfig(parameters=values)
    if not cron:
        body = api.V2beta1Run(
            display_name=run_name or f"{name}-{stamp}",
            experiment_id=experiment_id,
            pipeline_version_reference=version_ref,
            runtime_config=runtime,
            service_account=target.service_account or None,
        )
        sub.add("POST", "/apis/v2beta1/runs", api.ApiClient().sanitize_for_serialization(body))
        if not dry_run:
            response = client._run_api.run_service_create_run(body=body)
            sub.result = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": version_id,
                "experiment_id": experiment_id,
                "run_id": response.run_id,
            }
        return sub
    # KFP v2 cannot change a recurring run's pipeline version (its API has create, get, list,
    # enable, disable and delete only), so a schedule is replaced: the new one is created
    # first and the old ones deleted after, so a failure leaves the old schedule running, and a
    # delete that failed is retried by the next `schedule`. Runs already started are kept.
    display_name = schedule_name(name, run_name)
    sub.add("GET", f"/apis/v2beta1/recurringruns?experiment_id={experiment_id}&display_name={display_name}", None)
    old = [] if dry_run else _recurring_runs_named(client, experiment_id, display_name)
    body = api.V2beta1RecurringRun(
        display_name=display_name,
        experiment_id=experiment_id,
        pipeline_version_reference=version_ref,
        runtime_config=runtime,
        mode="ENABLE",
        max_concurrency=str(max_concurrency),
        no_catchup=True,
        service_account=target.service_account or None,
        trigger=api.V2beta1Trigger(cron_schedule=api.V2beta1CronSchedule(cron=cron)),
    )
    sub.add("POST", "/apis/v2beta1/recurringruns", api.ApiClient().sanitize_for_serialization(body))
    for rid in old if not dry_run else ["<each one listed>"]:
        sub.add("DELETE", f"/apis/v2beta1/recurringruns/{rid}", None)
    if not dry_run:
        response = client._recurring_run_api.recurring_run_service_create_recurring_run(body=body)
        for rid in old:
            client.delete_recurring_run(rid)
        sub.result = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "experiment_id": experiment_id,
            "recurring_run_id": response.recurring_run_id,
            "replaced": old,
        }
    return sub


def list_runs_kfp(target: KfpTarget, limit: int = 10) -> list[dict]:
    client = _kfp_client(target)
    runs = client.list_runs(page_size=limit, sort_by="created_at desc", namespace=target.namespace).runs or []
    return [
        {
            "run_id": r.run_id,
            "name": r.display_name,
            "state": r.state,
            "created": str(r.created_at),
            "finished": str(r.finished_at),
        }
        for r in runs
    ]


def follow_run_kfp(target: KfpTarget, run_id: str, timeout: int) -> str:
    return _kfp_client(target).wait_for_run_completion(run_id, timeout=timeout).state


# ---------------------------------------------------------------- Vertex AI Pipelines


@dataclass
class VertexTarget:
    project: str
    region: str
    pipeline_root: str
    service_account: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    api_endpoint: str = ""  # only to point the client at a stand-in server
    credentials: Any = None


def _vertex_init(target: VertexTarget, dry_run: bool = False) -> VertexTarget:
    import dataclasses

    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    if not target.pipeline_root.startswith("gs://"):
        raise SubmitError(f"--pipeline-root {target.pipeline_root!r}: Vertex needs a gs:// location")
    if target.credentials is None:
        if dry_run:  # nothing is sent, so no credentials are needed
            target = dataclasses.replace(target, credentials=AnonymousCredentials())
        else:
            try:
                credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            except google.auth.exceptions.DefaultCredentialsError:
                raise SubmitError(
                    "no Google credentials found: run `gcloud auth application-default login`, "
                    "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file"
                ) from None
            target = dataclasses.replace(target, credentials=credentials)
    kwargs = {"project": target.project, "location": target.region, "credentials": target.credentials}
    if target.api_endpoint:
        kwargs.update(api_endpoint=target.api_endpoint, api_transport="rest")
    aiplatform.init(**kwargs)
    return target


def _vertex_job(target: VertexTarget, spec: dict, values, display_name: str):
    from google.cloud import aiplatform

    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "pipeline.yaml"
        package.write_text(yaml.safe_dump(spec, sort_keys=False))
        job = aiplatform.PipelineJob(
            display_name=display_name,
            template_path=str(package),
            pipeline_root=target.pipeline_root,
            parameter_values=values,
            # No enable_caching: it would set every task's; the spec carries each task's own.
            labels=target.labels or None,
            project=target.project,
            location=target.region,
            credentials=target.credentials,
        )
    if target.service_account:
        job._gca_resource.service_account = target.service_account  # what submit() sets too
    return job


def submit_vertex(
    target: VertexTarget,
    package: str | Path,
    params: list[str],
    run_name: str = "",
    caching: bool = True,
    dry_run: bool = False,
    cron: str = "",
    max_concurrency: int = 1,
) -> Submission:
    """A PipelineJob (or, with `cron`, replace the pipeline's PipelineJobSchedule: `run_name`
    or `<pipeline>-schedule`)."""
    from google.cloud import aiplatform
    from google.protobuf import json_format

    spec = load_spec(package)
    check_images(spec, package)
    values = parse_params(spec, params)
    check_cluster_paths(spec, values)
    if cron and len(cron.split()) != 5:  # checked before anything is sent
        raise SubmitError(f"--cron {cron!r}: expected 5 fields (minute hour day month weekday)")
    spec = _run_spec(spec, values, caching, cron)
    target = _vertex_init(target, dry_run)
    name = spec["pipelineInfo"]["name"]
    job_name = name if cron else run_name or f"{name}-{_timestamp()}"
    job = _vertex_job(target, spec, values, job_name)
    parent = f"projects/{target.project}/locations/{target.region}"
    job_body = json_format.MessageToDict(job._gca_resource._pb)  # the request body, unsent
    sub = Submission("vertex")
    if not cron:
        sub.add("POST", f"/v1/{parent}/pipelineJobs", job_body)
        if not dry_run:
            job.submit(service_account=target.service_account or None)
            sub.result = {"pipeline_job": job.resource_name}
        return sub
    # PipelineJobSchedule.update changes the cron and run limits but not the pipeline job (the
    # package, its images, the parameters), which every delivery changes; so the schedule is
    # replaced: the new one created first and the old ones deleted after, so a failure leaves
    # the old schedule running, and a delete that failed is retried by the next `schedule`.
    display_name = schedule_name(name, run_name)
    flt = f'display_name="{display_name}"'
    sub.add("GET", f"/v1/{parent}/schedules?filter={flt}", None)
    old = [] if dry_run else aiplatform.PipelineJobSchedule.list(filter=flt, credentials=target.credentials)
    sub.add(
        "POST",
        f"/v1/{parent}/schedules",
        {
            "displayName": display_name,
            "cron": cron,
            "maxConcurrentRunCount": max_concurrency,
            "createPipelineJobRequest": {"parent": parent, "pipelineJob": job_body},
        },
    )
    replaced = [s.resource_name for s in old] if not dry_run else [f"{parent}/schedules/<each one listed>"]
    for resource in replaced:
        sub.add("DELETE", f"/v1/{resource}", None)
    if not dry_run:
        schedule = aiplatform.PipelineJobSchedule(pipeline_job=job, display_name=display_name)
        schedule.create(
            cron=cron, max_concurrent_run_count=max_concurrency, service_account=target.service_account or None
        )
        for previous in old:
            previous.delete()
        sub.result = {"schedule": schedule.resource_name, "replaced": replaced}
    return sub


def list_runs_vertex(target: VertexTarget, limit: int = 10) -> list[dict]:
    from google.cloud import aiplatform

    target = _vertex_init(target)
    jobs = aiplatform.PipelineJob.list(order_by="create_time desc")[:limit]
    return [
        {
            "run_id": j.resource_name,
            "name": j.display_name,
            "state": j.state.name,
            "created": str(j.create_time),
            "finished": str(j.gca_resource.end_time),
        }
        for j in jobs
    ]


def follow_run_vertex(target: VertexTarget, run_id: str) -> str:
    from google.cloud import aiplatform

    target = _vertex_init(target)
    job = aiplatform.PipelineJob.get(run_id)
    job.wait()
    return job.state.name
