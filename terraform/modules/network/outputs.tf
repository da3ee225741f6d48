output "network" {
  description = "The VPC's self link."
  value       = google_compute_network.this.self_link
}

output "subnetwork" {
  description = "The node subnet's self link, once the NAT is up: nodes pull public images at boot."
  value       = google_compute_subnetwork.nodes.self_link
  depends_on  = [google_compute_router_nat.this]
}

output "pods_range_name" {
  description = "The secondary range name for pods."
  value       = google_compute_subnetwork.nodes.secondary_ip_range[0].range_name
}

output "services_range_name" {
  description = "The secondary range name for Services."
  value       = google_compute_subnetwork.nodes.secondary_ip_range[1].range_name
}

output "node_tag" {
  description = "The network tag the nodes must carry for the firewall rules above to apply."
  value       = local.node_tag
}

output "dataflow_subnetwork" {
  description = "The Dataflow workers' subnet as Beam's --subnetwork takes it (regions/REGION/subnetworks/NAME): the network has no \"default\" network for Dataflow to fall back on."
  value       = "regions/${google_compute_subnetwork.dataflow.region}/subnetworks/${google_compute_subnetwork.dataflow.name}"
}

output "dataflow_firewall" {
  description = "The worker-to-worker rule, for the stack's plan-level tests."
  value       = google_compute_firewall.dataflow_workers
}

output "dataflow_subnetwork_resource" {
  description = "The Dataflow subnet resource, for the stack's plan-level tests."
  value       = google_compute_subnetwork.dataflow
}
