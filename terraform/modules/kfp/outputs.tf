output "namespace" {
  description = "The namespace of Kubeflow Pipelines."
  value       = local.namespace
}

output "service_account" {
  description = "The Kubernetes ServiceAccount pipeline pods run as."
  value       = local.service_account
}
