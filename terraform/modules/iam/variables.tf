variable "project_id" {
  description = "The project of the service accounts."
  type        = string
}

variable "workload_pool" {
  description = "The cluster's Workload Identity pool (<project>.svc.id.goog); it must exist before its members are bound."
  type        = string
}

variable "pipelines_account_id" {
  description = "Account id of the pipelines service account (KFP pods and Vertex AI Pipelines runs)."
  type        = string
}

variable "serving_account_id" {
  description = "Account id of the serving service account (the KServe predictor)."
  type        = string
}

variable "cloudbuild_account_id" {
  description = "Account id of the Cloud Build service account (delivery: push images, submit and schedule runs)."
  type        = string
}

variable "monitoring_account_id" {
  description = "Account id of the monitoring job's service account."
  type        = string
}

variable "dataflow_worker_account_id" {
  description = "Account id of the Dataflow workers' service account (the Beam steps with beam.runner: dataflow)."
  type        = string
}

variable "pipeline_bucket" {
  description = "The pipeline-root bucket."
  type        = string
}

variable "model_bucket" {
  description = "The model-registry bucket."
  type        = string
}

variable "request_log_bucket" {
  description = "The request-log bucket."
  type        = string
}

variable "data_buckets" {
  description = "Buckets of the pipelines' input data, read by the pipelines and Dataflow workers' service accounts."
  type        = list(string)
}

variable "repository" {
  description = "The Artifact Registry repository: location and id."
  type = object({
    location = string
    id       = string
  })
}

variable "kfp_namespace" {
  description = "Namespace of Kubeflow Pipelines."
  type        = string
}

variable "kfp_service_account" {
  description = "The Kubernetes ServiceAccount KFP runs pipeline pods as."
  type        = string
}

variable "serving_namespace" {
  description = "Namespace of the InferenceServices."
  type        = string
}

variable "serving_service_account" {
  description = "The predictors' Kubernetes ServiceAccount."
  type        = string
}

variable "monitoring_namespace" {
  description = "Namespace of the monitoring job."
  type        = string
}

variable "monitoring_service_account" {
  description = "The monitoring job's Kubernetes ServiceAccount."
  type        = string
}
