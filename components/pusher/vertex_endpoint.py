"""The Vertex AI alternative to KServe: a pushed version becomes a new version of the parent
model in the Vertex Model Registry and is deployed to an Endpoint with a traffic split
(the new deployment gets traffic_percent; the ones already there share the rest). Earlier
deployments stay deployed, each on its own nodes, until someone undeploys them: after
promoting a version, undeploy the old ones (`gcloud ai endpoints undeploy-model`)."""

from __future__ import annotations

from components.common.io import log
from contracts.config import VertexEndpointDeploy


def deploy_to_vertex_endpoint(
    target: VertexEndpointDeploy, artifact_uri: str, version: int, model_name: str, credentials=None
) -> dict:
    from google.cloud import aiplatform

    kwargs = {"project": target.project, "location": target.region, "credentials": credentials}
    if target.api_endpoint:
        kwargs.update(api_endpoint=target.api_endpoint, api_transport="rest")
    aiplatform.init(**kwargs)
    # Versions of one model, not a new model per push: the configured parent, else the model
    # an earlier push created under the same display name.
    parent = target.parent_model
    if not parent:
        existing = aiplatform.Model.list(filter=f'display_name="{model_name}"', order_by="create_time")
        parent = existing[0].resource_name if existing else None
    endpoint = aiplatform.Endpoint(target.endpoint)  # fails here, before an upload, if it does not exist
    model = aiplatform.Model.upload(
        display_name=model_name,
        artifact_uri=artifact_uri,
        serving_container_image_uri=target.serving_image,
        parent_model=parent,
        is_default_version=True,
        version_aliases=[f"v{version}"],
        labels={"registry-version": str(version)},
        sync=True,
    )
    # The first deployment on an endpoint must take all the traffic (Vertex rejects less).
    traffic = target.traffic_percent if endpoint.gca_resource.deployed_models else 100
    endpoint.deploy(
        model=model,
        deployed_model_display_name=f"{model_name}-v{version}",
        traffic_percentage=traffic,
        machine_type=target.machine_type,
        min_replica_count=1,
        max_replica_count=2,
        sync=True,
    )
    log.info(
        "Pusher: Vertex model %s version %s deployed to %s with %d%% of the traffic",
        model.resource_name,
        model.version_id,
        endpoint.resource_name,
        traffic,
    )
    return {
        "model": model.resource_name,
        "model_version_id": model.version_id,
        "endpoint": endpoint.resource_name,
        "traffic_percent": traffic,
    }
