output "pipeline_bucket" {
  description = "The pipeline-root bucket's name."
  value       = google_storage_bucket.pipelines.name
}

output "dataflow_temp_location" {
  description = "The Beam steps' temp_location on Dataflow (staging_location defaults to it); its objects are deleted after dataflow_temp_retention_days."
  value       = "gs://${google_storage_bucket.pipelines.name}/${local.dataflow_temp_prefix}"
}

output "model_bucket" {
  description = "The model-registry bucket's name."
  value       = google_storage_bucket.models.name
}

output "request_log_bucket" {
  description = "The request-log bucket's name."
  value       = google_storage_bucket.request_logs.name
}

# Whole resources, for the stack's plan-level tests (tofu test).
output "buckets" {
  description = "Every bucket resource of this module."
  value = [
    google_storage_bucket.pipelines, google_storage_bucket.models,
    google_storage_bucket.request_logs, google_storage_bucket.access_logs,
  ]
}

output "pipeline_bucket_resource" {
  description = "The pipeline root's bucket resource."
  value       = google_storage_bucket.pipelines
}

output "model_bucket_resource" {
  description = "The model registry's bucket resource."
  value       = google_storage_bucket.models
}
