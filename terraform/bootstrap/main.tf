provider "google" {
  project = var.project_id
}

resource "google_project_service" "storage" {
  project            = var.project_id
  service            = "storage.googleapis.com"
  disable_on_destroy = false
}

resource "google_storage_bucket" "tfstate" {
  # checkov:skip=CKV_GCP_62:Usage logs would need a second bucket just for this one; reads and writes of state are in the project's Cloud Audit Logs (Data Access logs for Cloud Storage).
  project                     = google_project_service.storage.project
  name                        = coalesce(var.bucket_name, "${var.project_id}-tfstate")
  location                    = var.location
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Every apply writes a new version; the previous ones are how a broken state is restored.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = var.state_versions_kept
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    prevent_destroy = true
  }
}
