output "serving_namespace" {
  description = "Namespace of the InferenceServices."
  value       = kubernetes_namespace.serving.metadata[0].name
}

output "serving_service_account" {
  description = "The predictors' Kubernetes ServiceAccount."
  value       = kubernetes_service_account.serving.metadata[0].name
}

output "monitoring_namespace" {
  description = "Namespace of the monitoring job."
  value       = kubernetes_namespace.monitoring.metadata[0].name
}

# For the stack's plan-level tests (tofu test).
output "deployer_role" {
  description = "The Role that lets the pipeline roll out InferenceServices."
  value       = kubernetes_role.deployer
}

output "deployer_binding" {
  description = "Its RoleBinding to the pipeline's Kubernetes ServiceAccount."
  value       = kubernetes_role_binding.deployer
}
