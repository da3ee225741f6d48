variable "kfp_version" {
  description = "Kubeflow Pipelines release (a tag of kubeflow/pipelines) installed from its kustomize manifests."
  type        = string
}

variable "cluster_endpoint" {
  description = "The cluster's control-plane address."
  type        = string
}

variable "cluster_ca_certificate" {
  description = "The cluster's CA certificate, base64."
  type        = string
  sensitive   = true
}

variable "access_token" {
  description = "An OAuth access token for the cluster (the google provider's)."
  type        = string
  sensitive   = true
}

variable "pipelines_service_account" {
  description = "Email of the Google service account the pipeline pods act as (Workload Identity)."
  type        = string
}
