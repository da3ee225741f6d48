variable "project_id" {
  description = "The project of the network."
  type        = string
}

variable "region" {
  description = "The region of the subnet, router and NAT."
  type        = string
}

variable "name" {
  description = "The name of the VPC; the subnet, router and NAT take it as prefix."
  type        = string
}

variable "nodes_cidr" {
  description = "The subnet's primary range: node addresses."
  type        = string
}

variable "pods_cidr" {
  description = "The secondary range for pod addresses."
  type        = string
}

variable "services_cidr" {
  description = "The secondary range for Service cluster IPs."
  type        = string
}

variable "dataflow_cidr" {
  description = "The Dataflow workers' subnet range (one address per worker VM)."
  type        = string
}

variable "master_ipv4_cidr_block" {
  description = "The GKE control plane's range, allowed to call admission webhooks on the nodes."
  type        = string
}
