variable "project_id" {
  description = "The project whose APIs are enabled."
  type        = string
}

variable "services" {
  description = "The APIs the stack uses."
  type        = list(string)
  default = [
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "binaryauthorization.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "dataflow.googleapis.com", # the Beam steps on Dataflow (beam.runner: dataflow)
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # Workload Identity's token exchange
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "storage.googleapis.com",
  ]
}
