"""The Vertex AI alternative to KServe: upload a pushed version as a new version of the parent
model and deploy it to an Endpoint with a traffic split. google-cloud-aiplatform over REST
against the local stand-in server; assertions on the request bodies it sent."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials

from components.pusher.vertex_endpoint import deploy_to_vertex_endpoint
from contracts.config import ConfigError, VertexEndpointDeploy, load_config, parse_config
from contracts.registry import version_dir
from tests.conftest import TAXI_CONFIG, taxi_config
from tests.fake_apis import FakeApis

LOC = "projects/my-project/locations/us-central1"
PARENT = f"{LOC}/models/model-1"
ENDPOINT = f"{LOC}/endpoints/42"
MODEL = load_config(TAXI_CONFIG).model_name  # the Vertex model's display name is the config's model_name
URI = version_dir("gs://models/registry", MODEL, 1795339452)


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
