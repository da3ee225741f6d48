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

output "dataflow_worker_email" {
  description = "The Dataflow workers' service account email (beam.dataflow.service_account)."
  value       = google_service_account.dataflow_worker.email
}

# The grants, for the stack's plan-level tests (tofu test) and for audits of the plan.
output "project_roles" {
  description = "The project-level role grants."
  value       = concat(values(google_project_iam_member.this), [google_project_iam_member.pipelines_dataflow])
}

output "bucket_roles" {
  description = "The bucket-level role grants."
  value       = values(google_storage_bucket_iam_member.this)
}

output "workload_identity_bindings" {
  description = "The Workload Identity bindings (Kubernetes ServiceAccount -> Google service account)."
  value       = values(google_service_account_iam_member.workload_identity)
}

output "repository_roles" {
  description = "The Artifact Registry repository role grants."
  value = [
    google_artifact_registry_repository_iam_member.cloudbuild_writer,
    google_artifact_registry_repository_iam_member.pipelines_reader,
    google_artifact_registry_repository_iam_member.dataflow_reader,
  ]
}

output "act_as_bindings" {
  description = "Who may act as which service account (roles/iam.serviceAccountUser on one account)."
  value       = concat(values(google_service_account_iam_member.act_as_pipelines), [google_service_account_iam_member.act_as_dataflow_worker])
}
