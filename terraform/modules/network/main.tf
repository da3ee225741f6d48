locals {
  node_tag     = "${var.name}-node"
  dataflow_tag = "dataflow" # Dataflow's own, on every worker VM
}

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = var.name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "nodes" {
  project       = var.project_id
  name          = "${var.name}-nodes"
  region        = var.region
  network       = google_compute_network.this.id
  ip_cidr_range = var.nodes_cidr
  # Private nodes reach Google APIs (GCS, Artifact Registry, Vertex) without the NAT.
  private_ip_google_access   = true
  private_ipv6_google_access = "ENABLE_OUTBOUND_VM_ACCESS_TO_GOOGLE"

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers (the Beam steps with beam.runner: dataflow) get a subnet of their own: GKE's
# own firewall rule admits the node subnet's range to the nodes on every port, and workers have
# no business there. No NAT: with private IPs (--no_use_public_ips) they reach Google APIs only
# (the SDK image on Artifact Registry, GCS, Dataflow), which is all a job with a custom
# container needs.
resource "google_compute_subnetwork" "dataflow" {
  project                    = var.project_id
  name                       = "${var.name}-dataflow"
  region                     = var.region
  network                    = google_compute_network.this.id
  ip_cidr_range              = var.dataflow_cidr
  private_ip_google_access   = true
  private_ipv6_google_access = "ENABLE_OUTBOUND_VM_ACCESS_TO_GOOGLE"

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Worker-to-worker traffic of a Dataflow job (12345: streaming without Streaming Engine, 12346:
# batch without Dataflow Shuffle, e.g. in a region that lacks it). Dataflow puts the network tag "dataflow" on every worker VM; a network
# other than "default" has no rule that lets it through.
resource "google_compute_firewall" "dataflow_workers" {
  project     = var.project_id
  name        = "${var.name}-dataflow-workers"
  network     = google_compute_network.this.id
  direction   = "INGRESS"
  source_tags = [local.dataflow_tag]
  target_tags = [local.dataflow_tag]

  allow {
    protocol = "tcp"
    ports    = ["12345-12346"]
  }
}

# The control plane calls admission webhooks on the nodes; GKE's own rule for a private
# cluster opens only 443 and 10250. 8443: KFP's cache webhook; 9443: KServe's webhook.
resource "google_compute_firewall" "webhooks" {
  project       = var.project_id
  name          = "${var.name}-master-webhooks"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = [var.master_ipv4_cidr_block]
  target_tags   = [local.node_tag]

  allow {
    protocol = "tcp"
    ports    = ["8443", "9443"]
  }
}

# Private nodes have no external address: the NAT is their way to public registries
# (KServe, cert-manager and Kubeflow Pipelines images on ghcr.io, quay.io, docker.io).
resource "google_compute_router" "this" {
  project = var.project_id
  name    = "${var.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  project                            = var.project_id
  name                               = "${var.name}-nat"
  region                             = var.region
  router                             = google_compute_router.this.name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.nodes.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
