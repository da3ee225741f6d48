output "cluster_name" {
  description = "The cluster's name."
  value       = google_container_cluster.this.name
}

output "location" {
  description = "The cluster's region or zone."
  value       = google_container_cluster.this.location
}

output "endpoint" {
  description = "The control plane's public address, once the node pools exist."
  value       = google_container_cluster.this.endpoint
  depends_on  = [google_container_node_pool.cpu, google_container_node_pool.gpu]
}

output "ca_certificate" {
  description = "The cluster's CA certificate, base64 (PEM inside)."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "workload_pool" {
  description = "The Workload Identity pool, <project>.svc.id.goog."
  value       = google_container_cluster.this.workload_identity_config[0].workload_pool
}

output "node_service_account" {
  description = "The nodes' Google service account email."
  value       = google_service_account.nodes.email
}

# Whole resources, for the stack's plan-level tests (tofu test) and for reading in plans.
output "cluster" {
  description = "The google_container_cluster resource."
  value       = google_container_cluster.this
  sensitive   = true
}

output "gpu_pool" {
  description = "The GPU node pool resource."
  value       = google_container_node_pool.gpu
}
