"""The Vertex AI alternative to KServe: a pushed version becomes a new version of the parent
model in the Vertex Model Registry and is deployed to an Endpoint with a traffic split
(the new deployment gets traffic_percent; the ones already there share the rest). Each
deployed model holds its own nodes, so after the new one is deployed and the traffic set,
deployed models beyond `keep_versions` (the newest ones kept) are undeployed; one that still
has traffic is never undeployed (promote or roll back first, then the next push cleans up).
"""

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
    deployed_name = f"{model_name}-v{version}"
    # A retried push (the same registry version) deploys nothing twice: Pushers are retried.
    already = [m for m in endpoint.gca_resource.deployed_models if m.display_name == deployed_name]
    if already:
        log.info("Pusher: %s is already deployed to %s; nothing to do", deployed_name, endpoint.resource_name)
        split = dict(endpoint.gca_resource.traffic_split)
        return {
            "model": already[0].model.split("@")[0],
            "model_version_id": already[0].model_version_id,
            "endpoint": endpoint.resource_name,
            "traffic_percent": split.get(already[0].id, 0),
            "already_deployed": True,
        }
    model = _uploaded_version(parent, version) or aiplatform.Model.upload(
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
    result = {
        "model": model.resource_name,
        "model_version_id": model.version_id,
        "endpoint": endpoint.resource_name,
        "traffic_percent": traffic,
    }
    undeployed = undeploy_old_versions(aiplatform.Endpoint(endpoint.resource_name), target.keep_versions)
    return result | ({"undeployed": undeployed} if undeployed else {})


def _uploaded_version(parent: str | None, version: int):
    """The model version an earlier try of this push uploaded (alias v<version>), if any: an
    alias names one version of a model, so uploading it again would be refused."""
    from google.api_core.exceptions import NotFound
    from google.cloud import aiplatform

    if not parent:
        return None
    try:
        model = aiplatform.Model(model_name=f"{parent}@v{version}")
    except NotFound:
        return None
    log.info("Pusher: reusing %s version %s (alias v%d) uploaded by an earlier try", parent, model.version_id, version)
    return model


def undeploy_old_versions(endpoint, keep_versions: int) -> list[str]:
    """Undeploys the deployed models beyond the newest `keep_versions`, never one with traffic;
    returns their ids. The newest is the last deployed (createTime, else the endpoint's order)."""
    split = {k: v for k, v in dict(endpoint.gca_resource.traffic_split).items() if v}
    deployed = list(endpoint.gca_resource.deployed_models)
    order = {m.id: i for i, m in enumerate(deployed)}
    newest_first = sorted(deployed, key=lambda m: (m.create_time.timestamp() if m.create_time else 0, order[m.id]))
    newest_first.reverse()
    serving = [m.id for m in newest_first if m.id in split]
    idle = [m.id for m in newest_first if m.id not in split]
    # The newest deployment has traffic (it was just given its share): it is among `serving`.
    to_undeploy = idle[max(keep_versions - len(serving), 0) :]
    if len(serving) > keep_versions:
        log.warning(
            "Pusher: %d deployed models on %s have traffic (%s), more than keep_versions=%d: "
            "none of them is undeployed; promote or roll back to free their nodes",
            len(serving),
            endpoint.resource_name,
            split,
            keep_versions,
        )
    for deployed_model_id in to_undeploy:
        endpoint.undeploy(deployed_model_id=deployed_model_id, traffic_split=split, sync=True)
        log.info("Pusher: undeployed %s (no traffic) from %s", deployed_model_id, endpoint.resource_name)
    return to_undeploy
