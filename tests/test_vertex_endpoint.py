"""The Vertex AI alternative to KServe: upload a pushed version as a new version of the parent
model and deploy it to an Endpoint with a traffic split. google-cloud-aiplatform over REST
against the local stand-in server; assertions on the request bodies it sent."""

from __future__ import annotations

import re

import pytest
from google.auth.credentials import AnonymousCredentials

from components.pusher.vertex_endpoint import deploy_to_vertex_endpoint
from contracts.config import ConfigError, VertexEndpointDeploy, load_config, parse_config
from contracts.registry import version_dir
from tests.conftest import TAXI_CONFIG, taxi_config
from tests.fake_apis import FakeApis, Recorded

LOC = "projects/my-project/locations/us-central1"
PARENT = f"{LOC}/models/model-1"
ENDPOINT = f"{LOC}/endpoints/42"
MODEL = load_config(TAXI_CONFIG).model_name  # the Vertex model's display name is the config's model_name
URI = version_dir("gs://models/registry", MODEL, 1795339452)


class FakeVertex(FakeApis):
    """FakeApis plus endpoints.undeployModel, refusing a model that still has traffic, as Vertex does."""

    def _vertex(self, r: Recorded) -> tuple[int, dict]:
        if r.method == "POST" and (m := re.fullmatch(r"/v1/(.+/endpoints/[^/:]+):undeployModel", r.path)):
            body, ep = r.json(), self.endpoints[m.group(1)]
            split = body.get("trafficSplit", ep.get("trafficSplit", {}))
            if split.get(body["deployedModelId"]):
                return 400, {
                    "error": {"code": 400, "message": "the model still has traffic", "status": "FAILED_PRECONDITION"}
                }
            ep["deployedModels"] = [d for d in ep["deployedModels"] if d["id"] != body["deployedModelId"]]
            ep["trafficSplit"] = {k: v for k, v in split.items() if k != body["deployedModelId"]}
            return 200, {
                "name": f"{m.group(1)}/operations/undeploy-1",
                "done": True,
                "response": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse"},
            }
        return super()._vertex(r)


def test_new_version_deployed_with_a_traffic_split():
    with FakeApis() as fake:
        fake.models[PARENT] = {"name": PARENT, "versionId": "1", "displayName": MODEL}
        fake.endpoints[ENDPOINT] = {
            "name": ENDPOINT,
            "displayName": "endpoint",
            "trafficSplit": {"live-1": 100},
            "deployedModels": [{"id": "live-1", "model": f"{PARENT}@1"}],
        }
        target = VertexEndpointDeploy(
            project="my-project", endpoint="42", parent_model=PARENT, traffic_percent=10, api_endpoint=fake.url
        )
        result = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        [upload] = fake.find("POST", f"/v1/{LOC}/models:upload")
        body = upload.json()
        assert body["parentModel"] == PARENT
        assert body["model"]["artifactUri"] == URI
        assert (
            body["model"]["containerSpec"]["imageUri"] == "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest"
        )
        assert "v1795339452" in body["model"]["versionAliases"]
        [deploy] = fake.find("POST", f"/v1/{ENDPOINT}:deployModel")
        body = deploy.json()
        assert body["trafficSplit"] == {"live-1": 90, "0": 10}  # "0": the model being deployed
        assert body["deployedModel"]["model"] == f"{PARENT}@2"
        resources = body["deployedModel"]["dedicatedResources"]
        assert resources["machineSpec"]["machineType"] == "n1-standard-4" and resources["minReplicaCount"] == 1
        assert result == {"model": PARENT, "model_version_id": "2", "endpoint": ENDPOINT, "traffic_percent": 10}


def test_first_push_to_an_empty_endpoint_takes_all_traffic_and_later_ones_are_versions():
    with FakeApis() as fake:
        fake.endpoints[ENDPOINT] = {"name": ENDPOINT, "displayName": "endpoint", "deployedModels": []}
        target = VertexEndpointDeploy(project="my-project", endpoint="42", api_endpoint=fake.url)
        first = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        [upload] = fake.find("POST", f"/v1/{LOC}/models:upload")
        assert "parentModel" not in upload.json()  # nothing to add a version to yet
        [deploy] = fake.find("POST", f"/v1/{ENDPOINT}:deployModel")
        assert deploy.json()["trafficSplit"] == {"0": 100} and first["traffic_percent"] == 100
        second = deploy_to_vertex_endpoint(
            target, URI.replace("1795339452", "1795339999"), 1795339999, MODEL, credentials=AnonymousCredentials()
        )
        uploads = fake.find("POST", f"/v1/{LOC}/models:upload")
        assert uploads[1].json()["parentModel"] == first["model"]  # a new version, not a new model
        assert fake.find("POST", f"/v1/{ENDPOINT}:deployModel")[1].json()["trafficSplit"]["0"] == 10
        assert second["traffic_percent"] == 10


def test_vertex_endpoint_needs_a_gcs_registry(tmp_path):
    data = taxi_config(tmp_path).model_dump(mode="json", exclude_none=True)
    data["push"]["vertex_endpoint"] = {"project": "p", "endpoint": "42"}
    with pytest.raises(ConfigError, match="push: vertex_endpoint needs a gs:// registry"):
        parse_config(data)
    data["push"]["registry"] = "gs://models/registry"
    assert parse_config(data).push.vertex_endpoint.traffic_percent == 10


def test_old_deployments_without_traffic_are_undeployed():
    """keep_versions=2: after the push, the new deployment and the one serving before it stay;
    an older one without traffic is undeployed; one that still has traffic never is."""
    with FakeVertex() as fake:
        fake.models[PARENT] = {"name": PARENT, "versionId": "3", "displayName": MODEL}
        fake.endpoints[ENDPOINT] = {
            "name": ENDPOINT,
            "displayName": "endpoint",
            "trafficSplit": {"v2": 100},
            "deployedModels": [
                {"id": "v1", "model": f"{PARENT}@1", "createTime": "2026-01-01T00:00:00Z"},
                {"id": "v2", "model": f"{PARENT}@2", "createTime": "2026-01-02T00:00:00Z"},
            ],
        }
        target = VertexEndpointDeploy(project="my-project", endpoint="42", parent_model=PARENT, api_endpoint=fake.url)
        result = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        [undeploy] = fake.find("POST", f"/v1/{ENDPOINT}:undeployModel")
        assert undeploy.json() == {"deployedModelId": "v1", "trafficSplit": {"v2": 90, "deployed-3": 10}}
        assert result["undeployed"] == ["v1"]
        assert [d["id"] for d in fake.endpoints[ENDPOINT]["deployedModels"]] == ["v2", "deployed-3"]


def test_a_deployment_with_traffic_is_never_undeployed():
    with FakeVertex() as fake:
        fake.models[PARENT] = {"name": PARENT, "versionId": "3", "displayName": MODEL}
        fake.endpoints[ENDPOINT] = {
            "name": ENDPOINT,
            "displayName": "endpoint",
            "trafficSplit": {"v1": 50, "v2": 50},  # a split someone set by hand
            "deployedModels": [{"id": "v1", "model": f"{PARENT}@1"}, {"id": "v2", "model": f"{PARENT}@2"}],
        }
        target = VertexEndpointDeploy(
            project="my-project", endpoint="42", parent_model=PARENT, keep_versions=1, api_endpoint=fake.url
        )
        result = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        assert fake.find("POST", f"/v1/{ENDPOINT}:undeployModel") == [] and "undeployed" not in result
        assert len(fake.endpoints[ENDPOINT]["deployedModels"]) == 3


def test_a_retried_push_uploads_and_deploys_nothing_twice():
    """The Pusher is retried: a retry after a deploy that went through is a no-op, and a retry
    after an upload whose deploy failed reuses the uploaded version (its alias is taken)."""
    with FakeApis() as fake:
        fake.endpoints[ENDPOINT] = {"name": ENDPOINT, "displayName": "endpoint", "deployedModels": []}
        target = VertexEndpointDeploy(project="my-project", endpoint="42", api_endpoint=fake.url)
        first = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        again = deploy_to_vertex_endpoint(target, URI, 1795339452, MODEL, credentials=AnonymousCredentials())
        assert len(fake.find("POST", r".*/models:upload")) == 1
        assert len(fake.find("POST", r".*:deployModel")) == 1
        assert again["already_deployed"] and again["endpoint"] == first["endpoint"]
        assert again["traffic_percent"] == 100

        # Version 2 was uploaded by a try whose deploy failed: the retry deploys that upload.
        fake.models[PARENT]["versionAliases"] = ["v1795339999"]
        fake.model_versions[PARENT] = {"2": {**fake.models[PARENT], "versionId": "2"}}
        retry = deploy_to_vertex_endpoint(target, URI, 1795339999, MODEL, credentials=AnonymousCredentials())
        assert len(fake.find("POST", r".*/models:upload")) == 1  # still the first one only
        [_, deploy] = fake.find("POST", r".*:deployModel")
        assert deploy.json()["deployedModel"]["model"] == f"{PARENT}@2"
        assert retry["model_version_id"] == "2"
