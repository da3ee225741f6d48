variable "project_id" {
  description = "The project of the cluster."
  type        = string
}

variable "name" {
  description = "The cluster's name; the node service account is <name>-nodes."
  type        = string
}

variable "location" {
  description = "A region (regional cluster, nodes in three zones) or a zone (zonal cluster)."
  type        = string
}

variable "network" {
  description = "The VPC's self link."
  type        = string
}

variable "subnetwork" {
  description = "The node subnet's self link."
  type        = string
}

variable "pods_range_name" {
  description = "The subnet's secondary range for pods."
  type        = string
}

variable "services_range_name" {
  description = "The subnet's secondary range for Services."
  type        = string
}

variable "node_tag" {
  description = "Network tag of every node (the network module's firewall rules target it)."
  type        = string
}

variable "master_ipv4_cidr_block" {
  description = "A /28 for the control plane's private endpoint, unused elsewhere in the VPC."
  type        = string
}

variable "master_authorized_networks" {
  description = "CIDR blocks allowed to reach the public control-plane endpoint (where terraform, kubectl and the KFP client run)."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
}

variable "release_channel" {
  description = "GKE release channel: RAPID, REGULAR or STABLE."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to destroy the cluster."
  type        = bool
}

variable "enable_binary_authorization" {
  description = "Enforce the project's Binary Authorization policy (its default policy allows every image)."
  type        = bool
}

variable "labels" {
  description = "Labels on the cluster and its nodes' VMs."
  type        = map(string)
}

variable "cpu_machine_type" {
  description = "Machine type of the CPU pool (system pods, KFP, KServe, every pipeline step but the Trainer)."
  type        = string
}

variable "cpu_min_nodes" {
  description = "The CPU pool's autoscaling minimum, over all its zones."
  type        = number
}

variable "cpu_max_nodes" {
  description = "The CPU pool's autoscaling maximum, over all its zones."
  type        = number
}

variable "gpu_machine_type" {
  description = "Machine type of the GPU pool; it must carry gpu_count x gpu_type (g2-standard-4: 1 x nvidia-l4)."
  type        = string
}

variable "gpu_type" {
  description = "Accelerator type; GKE labels the nodes cloud.google.com/gke-accelerator=<this>, which the Trainer selects."
  type        = string
}

variable "gpu_count" {
  description = "Accelerators per GPU node."
  type        = number
}

variable "gpu_driver_version" {
  description = "GKE-installed NVIDIA driver: DEFAULT or LATEST. Changing it recreates the pool."
  type        = string
}

variable "gpu_max_nodes" {
  description = "The GPU pool's autoscaling maximum, over all its zones; its minimum is 0."
  type        = number
}

variable "gpu_node_locations" {
  description = "Zones of the GPU pool (zones that offer gpu_type); null: the cluster's zones."
  type        = list(string)
}
