variable "project_id" {
  description = "The project of the buckets."
  type        = string
}

variable "location" {
  description = "The buckets' location (a region such as US-CENTRAL1, near the cluster and Vertex)."
  type        = string
}

variable "name_prefix" {
  description = "Bucket names are <name_prefix>-pipelines (pipeline root), -models (model registry: must not be lost), -request-logs (exported serving request logs) and -access-logs (the others' usage logs)."
  type        = string
}

variable "pipeline_root_retention_days" {
  description = "Pipeline-root objects are deleted at this age; a cached step older than this cannot be reused."
  type        = number
}

variable "dataflow_temp_retention_days" {
  description = "Dataflow temp and staging files (gs://<pipelines bucket>/dataflow-tmp/) are deleted at this age; keep it longer than a job runs."
  type        = number
}

variable "noncurrent_retention_days" {
  description = "Overwritten or deleted object versions are kept this long."
  type        = number
}

variable "request_log_retention_days" {
  description = "Exported request logs (and usage logs) are deleted at this age."
  type        = number
}

variable "request_log_filter" {
  description = "Cloud Logging filter of the request-log lines exported to request_log_bucket."
  type        = string
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets (dev only)."
  type        = bool
}

variable "labels" {
  description = "Labels on the buckets."
  type        = map(string)
}
