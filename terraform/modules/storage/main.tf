locals {
  # Under the pipeline bucket: the Beam steps' temp_location on Dataflow.
  dataflow_temp_prefix = "dataflow-tmp"
}

resource "google_storage_bucket" "pipelines" {
  project                     = var.project_id
  name                        = "${var.name_prefix}-pipelines"
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  # Runs' intermediate artifacts can be made again by re-running.
  lifecycle_rule {
    condition {
      age = var.pipeline_root_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Dataflow's temp and staging files (the job's packages, graphs, temporary outputs) are
  # useless once the job ends.
  lifecycle_rule {
    condition {
      age            = var.dataflow_temp_retention_days
      matches_prefix = ["${local.dataflow_temp_prefix}/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "models" {
  project                     = var.project_id
  name                        = "${var.name_prefix}-models"
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  # No age rule on live objects: every pushed version stays until someone deletes it, and a
  # deleted or overwritten one can be restored for noncurrent_retention_days.
  versioning {
    enabled = true
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "request_logs" {
  project                     = var.project_id
  name                        = "${var.name_prefix}-request-logs"
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  lifecycle_rule {
    condition {
      age = var.request_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "access_logs" {
  # checkov:skip=CKV_GCP_62:This is the usage-log bucket itself; logging it into itself would loop.
  project                     = var.project_id
  name                        = "${var.name_prefix}-access-logs"
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.request_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }
}

# Cloud Storage writes usage logs as this group; with uniform access it needs a bucket role.
resource "google_storage_bucket_iam_member" "access_log_writer" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# The predictor writes one JSON line per request to stdout (--request_log=-); GKE's logging
# agent stores each as a structured entry, and this sink exports them hourly to the bucket as
# JSON files of LogEntry objects (the line is each entry's jsonPayload).
resource "google_logging_project_sink" "request_logs" {
  # checkov:skip=CKV2_GCP_4:These are serving request logs for drift monitoring, not audit logs; a locked retention policy could never be shortened and would keep dev buckets undeletable.
  project                = var.project_id
  name                   = "${var.name_prefix}-request-logs-export"
  destination            = "storage.googleapis.com/${google_storage_bucket.request_logs.name}"
  filter                 = var.request_log_filter
  unique_writer_identity = true
}

resource "google_storage_bucket_iam_member" "request_log_sink" {
  bucket = google_storage_bucket.request_logs.name
  role   = "roles/storage.objectCreator"
  member = google_logging_project_sink.request_logs.writer_identity
}
