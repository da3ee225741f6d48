# What the tabml CLI and cloudbuild.yaml take (names as the CLI's flags and parameters).

output "project_id" {
  description = "The project."
  value       = var.project_id
}

output "region" {
  description = "The region of Vertex AI runs, the buckets and the image repository."
  value       = var.region
}

output "pipeline_root" {
  description = "Pipeline root for runs (--pipeline-root; cloud.pipeline_root)."
  value       = "gs://${module.storage.pipeline_bucket}/root"
}

output "model_registry" {
  description = "The versioned model registry (model_registry parameter; cloud.model_registry; push.registry)."
  value       = "gs://${module.storage.model_bucket}/registry"
}

output "image_registry" {
  description = "Image prefix for tabml compile --image-registry and the builds: <location>-docker.pkg.dev/<project>/<repository>."
  value       = module.artifact_registry.image_registry
}

output "pipelines_service_account" {
  description = "Email of the pipelines service account: Vertex AI runs' --service-account; KFP pipeline pods act as it."
  value       = module.iam.pipelines_email
}

output "cloudbuild_service_account" {
  description = "Email of the service account the Cloud Build triggers must run as."
  value       = module.iam.cloudbuild_email
}

output "serving_namespace" {
  description = "Namespace of the InferenceServices (push.kserve.namespace)."
  value       = module.k8s_access.serving_namespace
}

output "serving_service_account" {
  description = "The predictors' Kubernetes ServiceAccount (serviceAccountName)."
  value       = module.k8s_access.serving_service_account
}

output "serving_gcp_service_account" {
  description = "Email of the Google service account the predictors act as (the overlay's iam.gke.io/gcp-service-account)."
  value       = module.iam.serving_email
}

output "monitoring_namespace" {
  description = "Namespace of the monitoring job."
  value       = module.k8s_access.monitoring_namespace
}

output "monitoring_service_account" {
  description = "Email of the Google service account the monitoring job acts as."
  value       = module.iam.monitoring_email
}

output "cluster_name" {
  description = "The GKE cluster (gcloud container clusters get-credentials NAME --location LOCATION)."
  value       = module.gke.cluster_name
}

output "cluster_location" {
  description = "The cluster's region or zone."
  value       = module.gke.location

  precondition {
    condition     = var.cluster_location == var.region || startswith(var.cluster_location, "${var.region}-")
    error_message = "cluster_location (${var.cluster_location}) must be var.region (${var.region}) or one of its zones: the subnet and NAT are in var.region."
  }
}

output "kfp_namespace" {
  description = "Namespace of Kubeflow Pipelines (kubectl port-forward -n NS svc/ml-pipeline-ui 8080:80)."
  value       = module.kfp.namespace
}

output "request_log_bucket" {
  description = "Name of the bucket the serving request logs are exported to (hourly JSON files of log entries)."
  value       = module.storage.request_log_bucket
}

output "dataflow_service_account" {
  description = "Email of the Dataflow workers' service account (beam.dataflow.service_account); the pipelines account may run jobs as it."
  value       = module.iam.dataflow_worker_email
}

output "dataflow_temp_location" {
  description = "Dataflow's temp (and staging) location (beam.dataflow.temp_location): a prefix of the pipelines bucket, emptied after dataflow_temp_retention_days."
  value       = module.storage.dataflow_temp_location
}

output "dataflow_subnetwork" {
  description = "The Dataflow workers' subnet (beam.dataflow.subnetwork): the VPC is custom and the project may have no default network. It is in var.region: beam.dataflow.region must be the same."
  value       = module.network.dataflow_subnetwork
}

output "tabml_beam_dataflow" {
  description = "The pipeline config's beam.dataflow section for this environment (add machine_type, max_workers): paste it into config.yaml."
  value = {
    project         = var.project_id
    region          = var.region
    service_account = module.iam.dataflow_worker_email
    subnetwork      = module.network.dataflow_subnetwork
    temp_location   = module.storage.dataflow_temp_location
  }
}

output "tabml_cloud_config" {
  description = "The pipeline config's cloud: section for this environment: paste it into config.yaml."
  value = {
    model_registry = "gs://${module.storage.model_bucket}/registry"
    pipeline_root  = "gs://${module.storage.pipeline_bucket}/root"
    project        = var.project_id
    region         = var.region
  }
}
