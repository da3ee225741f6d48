variable "serving_namespace" {
  description = "Namespace of the InferenceServices (the serving overlays' namespace)."
  type        = string
}

variable "serving_service_account" {
  description = "The predictors' Kubernetes ServiceAccount (serviceAccountName in the manifests)."
  type        = string
}

variable "serving_gcp_service_account" {
  description = "Email of the Google service account the predictors act as."
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

variable "monitoring_gcp_service_account" {
  description = "Email of the Google service account the monitoring job acts as."
  type        = string
}

variable "deployer" {
  description = "The Kubernetes ServiceAccount that deploys models (KFP's Pusher step): namespace and name."
  type = object({
    namespace = string
    name      = string
  })
}
