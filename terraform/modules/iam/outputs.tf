output "pipelines_email" {
  description = "The pipelines service account's email."
  value       = google_service_account.pipelines.email
}

output "serving_email" {
  description = "The serving service account's email."
  value       = google_service_account.serving.email
}

output "cloudbuild_email" {
  description = "The Cloud Build service account's email."
  value       = google_service_account.cloudbuild.email
}

output "monitoring_email" {
  description = "The monitoring job's service account email."
  value       = google_service_account.monitoring.email
}

# The grants, for the stack's plan-level tests (tofu test) and for audits of the plan.
output "project_roles" {
  description = "The project-level role grants."
  value       = values(google_project_iam_member.this)
}

output "bucket_roles" {
  description = "The bucket-level role grants."
  value       = values(google_storage_bucket_iam_member.this)
}

output "workload_identity_bindings" {
  description = "The Workload Identity bindings (Kubernetes ServiceAccount -> Google service account)."
  value       = values(google_service_account_iam_member.workload_identity)
}
