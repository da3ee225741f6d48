locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  node_roles = toset([
    "roles/artifactregistry.reader",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
  ])
}

# The nodes' own identity: logs, metrics and image pulls only. Pods act as their Kubernetes
# ServiceAccount's Google service account (Workload Identity), never as this one.
resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-nodes"
  display_name = "GKE nodes of ${var.name}"
}

resource "google_project_iam_member" "nodes" {
  for_each = local.node_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.nodes.member
}

resource "google_container_cluster" "this" {
  # checkov:skip=CKV_GCP_69:No node runs on the cluster's own node_config (remove_default_node_pool); both node pools below set GKE_METADATA.
  # checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace or Cloud Identity domain with a gke-security-groups group; add authenticator_groups_config where one exists.
  project  = var.project_id
  name     = var.name
  location = var.location

  network         = var.network
  subnetwork      = var.subnetwork
  networking_mode = "VPC_NATIVE"
  # GKE Dataplane V2 (eBPF).
  datapath_provider           = "ADVANCED_DATAPATH"
  enable_intranode_visibility = true
  enable_shielded_nodes       = true
  enable_legacy_abac          = false
  deletion_protection         = var.deletion_protection
  resource_labels             = var.labels

  # The node pools below are managed on their own; the default one only exists while the
  # cluster is created.
  remove_default_node_pool = true
  initial_node_count       = 1

  # Dataplane V2 enforces NetworkPolicy itself; the Calico add-on stays off.
  network_policy {
    enabled = false
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_ipv4_cidr_block
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  workload_identity_config {
    workload_pool = local.workload_pool
  }

  release_channel {
    channel = var.release_channel
  }

  binary_authorization {
    evaluation_mode = var.enable_binary_authorization ? "PROJECT_SINGLETON_POLICY_ENFORCE" : "DISABLED"
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    enable_components = ["SYSTEM_COMPONENTS"]
    managed_prometheus {
      enabled = true
    }
  }
}

resource "google_container_node_pool" "cpu" {
  project            = var.project_id
  name               = "cpu"
  cluster            = google_container_cluster.this.id
  location           = var.location
  initial_node_count = 1

  autoscaling {
    total_min_node_count = var.cpu_min_nodes
    total_max_node_count = var.cpu_max_nodes
    location_policy      = "BALANCED"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.cpu_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = 100
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    resource_labels = var.labels
    tags            = [var.node_tag]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  depends_on = [google_project_iam_member.nodes]
}

resource "google_container_node_pool" "gpu" {
  project            = var.project_id
  name               = "gpu"
  cluster            = google_container_cluster.this.id
  location           = var.location
  node_locations     = var.gpu_node_locations
  initial_node_count = 0

  # From zero: no GPU node (and no GPU cost) until a Trainer pod asks for one. ANY takes
  # whichever zone has an accelerator free.
  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.gpu_max_nodes
    location_policy      = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gpu_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = 100
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    resource_labels = var.labels
    tags            = [var.node_tag]

    guest_accelerator {
      type  = var.gpu_type
      count = var.gpu_count
      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    # Keeps every pod that does not tolerate it (all but the Trainer) off the GPU nodes.
    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  depends_on = [google_project_iam_member.nodes]
}
