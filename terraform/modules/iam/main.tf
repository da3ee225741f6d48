# Least privilege: roles on the one bucket, repository or service account they concern; project
# roles only where Google offers nothing narrower (Vertex AI, Dataflow). No basic roles.

resource "google_service_account" "pipelines" {
  project      = var.project_id
  account_id   = var.pipelines_account_id
  display_name = "tabml pipelines (KFP pods, Vertex AI Pipelines runs)"
}

resource "google_service_account" "serving" {
  project      = var.project_id
  account_id   = var.serving_account_id
  display_name = "tabml serving (KServe predictor)"
}

resource "google_service_account" "cloudbuild" {
  project      = var.project_id
  account_id   = var.cloudbuild_account_id
  display_name = "tabml delivery (Cloud Build)"
}

resource "google_service_account" "monitoring" {
  project      = var.project_id
  account_id   = var.monitoring_account_id
  display_name = "tabml monitoring job"
}

# The Beam steps' workers on Dataflow (beam.dataflow.service_account); no one logs in as it,
# the pipelines account launches jobs that run as it.
resource "google_service_account" "dataflow_worker" {
  project      = var.project_id
  account_id   = var.dataflow_worker_account_id
  display_name = "tabml Dataflow workers (ExampleGen, StatisticsGen, Transform, Evaluator)"
}

# --- Project roles ------------------------------------------------------------------------
locals {
  project_roles = {
    # Create pipeline jobs and schedules; the Pusher uploads models and deploys to endpoints.
    "pipelines-aiplatform"  = { member = google_service_account.pipelines.member, role = "roles/aiplatform.user" }
    "cloudbuild-aiplatform" = { member = google_service_account.cloudbuild.member, role = "roles/aiplatform.user" }
    # A build that runs as a user-managed account writes its logs itself (CLOUD_LOGGING_ONLY).
    "cloudbuild-logging" = { member = google_service_account.cloudbuild.member, role = "roles/logging.logWriter" }
    # Starts retraining runs when it finds drift.
    "monitoring-aiplatform" = { member = google_service_account.monitoring.member, role = "roles/aiplatform.user" }
    # Lease and report work items, write the workers' logs and metrics; nothing narrower exists.
    "dataflow-worker" = { member = google_service_account.dataflow_worker.member, role = "roles/dataflow.worker" }
  }
}

resource "google_project_iam_member" "this" {
  for_each = local.project_roles

  project = var.project_id
  role    = each.value.role
  member  = each.value.member
}

# The Beam steps launch Dataflow jobs. Creating a job (dataflow.jobs.create) exists only in
# project-level roles, and developer is the narrowest (admin adds bucket and machine-type reads).
resource "google_project_iam_member" "pipelines_dataflow" {
  # checkov:skip=CKV_GCP_49:dataflow.developer is the narrowest role that creates Dataflow jobs; a job runs only as an account its creator may act as, and the pipelines account may act only as itself and tabml-dataflow.
  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = google_service_account.pipelines.member
}

# --- Buckets ------------------------------------------------------------------------------
locals {
  bucket_roles = merge(
    {
      "pipelines-root"     = { bucket = var.pipeline_bucket, member = google_service_account.pipelines.member, role = "roles/storage.objectAdmin" }
      "pipelines-registry" = { bucket = var.model_bucket, member = google_service_account.pipelines.member, role = "roles/storage.objectAdmin" }
      # KServe's storage initializer downloads storageUri.
      "serving-registry" = { bucket = var.model_bucket, member = google_service_account.serving.member, role = "roles/storage.objectViewer" }
      # Baselines and statistics of the served versions, and the exported request logs.
      "monitoring-registry"     = { bucket = var.model_bucket, member = google_service_account.monitoring.member, role = "roles/storage.objectViewer" }
      "monitoring-request-logs" = { bucket = var.request_log_bucket, member = google_service_account.monitoring.member, role = "roles/storage.objectViewer" }
    },
    { for b in var.data_buckets : "pipelines-data-${b}" => { bucket = b, member = google_service_account.pipelines.member, role = "roles/storage.objectViewer" } },
    # Whoever starts runs lists the data to fingerprint it (ExampleGen's cache key).
    { for b in var.data_buckets : "cloudbuild-data-${b}" => { bucket = b, member = google_service_account.cloudbuild.member, role = "roles/storage.objectViewer" } },
    { for b in var.data_buckets : "monitoring-data-${b}" => { bucket = b, member = google_service_account.monitoring.member, role = "roles/storage.objectViewer" } },
    {
      # Dataflow workers read and write the runs' artifacts under the pipeline root and the
      # job's temp_location (gs://<pipelines bucket>/dataflow-tmp); they read the data, and the
      # Evaluator's baseline model from the registry.
      "dataflow-root"     = { bucket = var.pipeline_bucket, member = google_service_account.dataflow_worker.member, role = "roles/storage.objectAdmin" }
      "dataflow-registry" = { bucket = var.model_bucket, member = google_service_account.dataflow_worker.member, role = "roles/storage.objectViewer" }
    },
    { for b in var.data_buckets : "dataflow-data-${b}" => { bucket = b, member = google_service_account.dataflow_worker.member, role = "roles/storage.objectViewer" } },
  )
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = local.bucket_roles

  bucket = each.value.bucket
  role   = each.value.role
  member = each.value.member
}

# --- Images -------------------------------------------------------------------------------
resource "google_artifact_registry_repository_iam_member" "cloudbuild_writer" {
  project    = var.project_id
  location   = var.repository.location
  repository = var.repository.id
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.cloudbuild.member
}

resource "google_artifact_registry_repository_iam_member" "pipelines_reader" {
  project    = var.project_id
  location   = var.repository.location
  repository = var.repository.id
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.pipelines.member
}

# Dataflow workers run the pipeline's CPU image as their SDK container (sdk_container_image).
resource "google_artifact_registry_repository_iam_member" "dataflow_reader" {
  project    = var.project_id
  location   = var.repository.location
  repository = var.repository.id
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.dataflow_worker.member
}

# --- Acting as the pipelines account ------------------------------------------------------
# A Vertex AI run's service account must be one its creator may act as: Cloud Build (deliver),
# the monitoring job (retrain), and the pipelines account itself (a run that starts a run).
locals {
  pipelines_actors = {
    cloudbuild = google_service_account.cloudbuild.member
    monitoring = google_service_account.monitoring.member
    pipelines  = google_service_account.pipelines.member
  }
}

resource "google_service_account_iam_member" "act_as_pipelines" {
  for_each = local.pipelines_actors

  service_account_id = google_service_account.pipelines.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

# A Dataflow job runs as --service_account_email only if its creator may act as that account:
# the pipelines account, on this one account (not project-wide).
resource "google_service_account_iam_member" "act_as_dataflow_worker" {
  service_account_id = google_service_account.dataflow_worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.pipelines.member
}

# --- Workload Identity: Kubernetes ServiceAccount -> Google service account ---------------
locals {
  workload_identities = {
    pipelines  = { account = google_service_account.pipelines.name, ksa = "${var.kfp_namespace}/${var.kfp_service_account}" }
    serving    = { account = google_service_account.serving.name, ksa = "${var.serving_namespace}/${var.serving_service_account}" }
    monitoring = { account = google_service_account.monitoring.name, ksa = "${var.monitoring_namespace}/${var.monitoring_service_account}" }
  }
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.workload_identities

  service_account_id = each.value.account
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_pool}[${each.value.ksa}]"
}
