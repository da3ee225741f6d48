locals {
  labels = merge(var.labels, { app = "tabml", env = var.environment })
  # What the predictor writes to stdout with --request_log=- (one JSON object per line).
  request_log_filter = join(" AND ", [
    "resource.type=\"k8s_container\"",
    "resource.labels.namespace_name=\"${var.serving_namespace}\"",
    "resource.labels.container_name=\"kserve-container\"",
    "jsonPayload.request_id:*",
  ])
}

module "project_services" {
  source     = "../modules/project_services"
  project_id = var.project_id
}

module "network" {
  source        = "../modules/network"
  project_id    = module.project_services.project_id
  region        = var.region
  name          = var.cluster_name
  nodes_cidr    = var.subnet_cidrs.nodes
  pods_cidr     = var.subnet_cidrs.pods
  services_cidr = var.subnet_cidrs.services
  dataflow_cidr = var.subnet_cidrs.dataflow
  # The control plane's range: its webhook calls to the nodes are let through.
  master_ipv4_cidr_block = var.master_ipv4_cidr_block
}

module "gke" {
  source                      = "../modules/gke"
  project_id                  = module.project_services.project_id
  name                        = var.cluster_name
  location                    = var.cluster_location
  network                     = module.network.network
  subnetwork                  = module.network.subnetwork
  pods_range_name             = module.network.pods_range_name
  services_range_name         = module.network.services_range_name
  node_tag                    = module.network.node_tag
  master_ipv4_cidr_block      = var.master_ipv4_cidr_block
  master_authorized_networks  = var.master_authorized_networks
  release_channel             = var.release_channel
  deletion_protection         = var.deletion_protection
  enable_binary_authorization = var.enable_binary_authorization
  labels                      = local.labels
  cpu_machine_type            = var.cpu_machine_type
  cpu_min_nodes               = var.cpu_min_nodes
  cpu_max_nodes               = var.cpu_max_nodes
  gpu_machine_type            = var.gpu_machine_type
  gpu_type                    = var.gpu_type
  gpu_count                   = var.gpu_count
  gpu_driver_version          = var.gpu_driver_version
  gpu_max_nodes               = var.gpu_max_nodes
  gpu_node_locations          = var.gpu_node_locations
}

module "artifact_registry" {
  source                 = "../modules/artifact_registry"
  project_id             = module.project_services.project_id
  location               = coalesce(var.repository_location, var.region)
  repository_id          = var.repository_id
  keep_recent_versions   = var.image_keep_recent_versions
  delete_older_than_days = var.image_retention_days
  kept_tag_prefixes      = ["production", "staging", "latest"]
  labels                 = local.labels
}

module "storage" {
  source                       = "../modules/storage"
  project_id                   = module.project_services.project_id
  location                     = upper(coalesce(var.bucket_location, var.region))
  name_prefix                  = coalesce(var.bucket_prefix, var.project_id)
  pipeline_root_retention_days = var.pipeline_root_retention_days
  dataflow_temp_retention_days = var.dataflow_temp_retention_days
  noncurrent_retention_days    = var.noncurrent_retention_days
  request_log_retention_days   = var.request_log_retention_days
  request_log_filter           = local.request_log_filter
  force_destroy                = var.force_destroy
  labels                       = local.labels
}

module "iam" {
  source                     = "../modules/iam"
  project_id                 = module.project_services.project_id
  workload_pool              = module.gke.workload_pool
  pipelines_account_id       = var.service_account_ids.pipelines
  serving_account_id         = var.service_account_ids.serving
  cloudbuild_account_id      = var.service_account_ids.cloudbuild
  monitoring_account_id      = var.service_account_ids.monitoring
  dataflow_worker_account_id = var.service_account_ids.dataflow
  pipeline_bucket            = module.storage.pipeline_bucket
  model_bucket               = module.storage.model_bucket
  request_log_bucket         = module.storage.request_log_bucket
  data_buckets               = var.data_buckets
  repository                 = { location = module.artifact_registry.location, id = module.artifact_registry.repository_id }
  kfp_namespace              = module.kfp.namespace
  kfp_service_account        = module.kfp.service_account
  serving_namespace          = var.serving_namespace
  serving_service_account    = var.serving_service_account
  monitoring_namespace       = var.monitoring_namespace
  monitoring_service_account = var.monitoring_service_account
}

# --- On the cluster -----------------------------------------------------------------------
module "kserve" {
  source               = "../modules/kserve"
  cert_manager_version = var.cert_manager_version
  kserve_version       = var.kserve_version
  timeout_s            = var.helm_timeout_s

  depends_on = [module.gke]
}

module "kfp" {
  source                    = "../modules/kfp"
  kfp_version               = var.kfp_version
  cluster_endpoint          = module.gke.endpoint
  cluster_ca_certificate    = module.gke.ca_certificate
  access_token              = data.google_client_config.current.access_token
  pipelines_service_account = module.iam.pipelines_email
}

module "k8s_access" {
  source                         = "../modules/k8s_access"
  serving_namespace              = var.serving_namespace
  serving_service_account        = var.serving_service_account
  serving_gcp_service_account    = module.iam.serving_email
  monitoring_namespace           = var.monitoring_namespace
  monitoring_service_account     = var.monitoring_service_account
  monitoring_gcp_service_account = module.iam.monitoring_email
  deployer                       = { namespace = module.kfp.namespace, name = module.kfp.service_account }

  depends_on = [module.gke]
}
