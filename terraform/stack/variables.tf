# --- Where --------------------------------------------------------------------------------
variable "project_id" {
  description = "The Google Cloud project everything is created in."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: lowercase letters, digits, hyphens), not a name or number."
  }
}

variable "region" {
  description = "Region of the cluster's network, Vertex AI, the buckets and the image repository."
  type        = string
  default     = "us-central1"
}

variable "environment" {
  description = "Name of the environment, put on every resource as the label env."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.environment))
    error_message = "environment must be a label value: lowercase letters, digits and hyphens, e.g. dev or prod."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

# --- Network and cluster ------------------------------------------------------------------
variable "cluster_name" {
  description = "Name of the GKE cluster and its VPC."
  type        = string
  default     = "tabml"
}

variable "cluster_location" {
  description = "The region (regional cluster: control plane and nodes over three zones) or one of its zones (zonal cluster: cheaper, no control-plane HA)."
  type        = string
  default     = "us-central1"
}

variable "subnet_cidrs" {
  description = "Ranges of the node subnet: nodes (primary), pods and services (secondary); and of the Dataflow workers' subnet."
  type = object({
    nodes    = string
    pods     = string
    services = string
    dataflow = optional(string, "10.10.16.0/22")
  })
  default = {
    nodes    = "10.10.0.0/20"
    pods     = "10.16.0.0/14"
    services = "10.20.0.0/20"
    dataflow = "10.10.16.0/22"
  }
  validation {
    condition     = alltrue([for c in values(var.subnet_cidrs) : can(cidrhost(c, 0))])
    error_message = "subnet_cidrs.nodes, .pods, .services and .dataflow must be CIDR blocks such as 10.10.0.0/20."
  }
}

variable "master_ipv4_cidr_block" {
  description = "A /28 for the control plane's private endpoint; it must not overlap subnet_cidrs."
  type        = string
  default     = "172.16.0.0/28"
  validation {
    condition     = can(cidrhost(var.master_ipv4_cidr_block, 0)) && endswith(var.master_ipv4_cidr_block, "/28")
    error_message = "master_ipv4_cidr_block must be a /28 CIDR block, such as 172.16.0.0/28."
  }
}

variable "master_authorized_networks" {
  description = "Who may reach the control plane's public endpoint: the networks terraform, kubectl and the KFP client run from."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  validation {
    condition     = length(var.master_authorized_networks) > 0 && alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr_block, 0))])
    error_message = "master_authorized_networks needs at least one {cidr_block, display_name} with a valid CIDR block: terraform itself must reach the cluster to install KServe and KFP."
  }
}

variable "release_channel" {
  description = "GKE release channel."
  type        = string
  default     = "REGULAR"
  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the cluster (true in production)."
  type        = bool
  default     = true
}

variable "enable_binary_authorization" {
  description = "Enforce the project's Binary Authorization policy on the cluster (the default policy allows every image; tighten it to attested images)."
  type        = bool
  default     = true
}

variable "cpu_machine_type" {
  description = "Machine type of the CPU node pool."
  type        = string
  default     = "e2-standard-4"
}

variable "cpu_min_nodes" {
  description = "CPU pool autoscaling minimum (whole pool)."
  type        = number
  default     = 1
}

variable "cpu_max_nodes" {
  description = "CPU pool autoscaling maximum (whole pool)."
  type        = number
  default     = 4
  validation {
    condition     = var.cpu_max_nodes >= 1
    error_message = "cpu_max_nodes must be at least 1: KFP and KServe run on the CPU pool."
  }
}

variable "gpu_machine_type" {
  description = "Machine type of the GPU pool. The Trainer's GPU request is sized to fit its allocatable CPU and memory (the pipeline config's validation checks it)."
  type        = string
  default     = "g2-standard-4"
  validation {
    # The default Trainer request (3 CPU / 12G, contracts/config.py) needs 4 vCPU; g2 machines carry L4s.
    condition     = contains(["g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-24", "g2-standard-32"], var.gpu_machine_type)
    error_message = "gpu_machine_type must be a g2-standard machine with at least 4 vCPU (g2-standard-4 or bigger): smaller ones cannot fit the Trainer's request."
  }
}

variable "gpu_type" {
  description = "Accelerator of the GPU pool; the pipeline config's resources.gpu_type must name the same (the Trainer selects cloud.google.com/gke-accelerator=<gpu_type>)."
  type        = string
  default     = "nvidia-l4"
}

variable "gpu_count" {
  description = "Accelerators per GPU node: what gpu_machine_type carries (g2-standard-4: 1)."
  type        = number
  default     = 1
}

variable "gpu_driver_version" {
  description = "NVIDIA driver GKE installs: DEFAULT or LATEST. Changing it recreates the GPU pool."
  type        = string
  default     = "LATEST"
  validation {
    condition     = contains(["DEFAULT", "LATEST"], var.gpu_driver_version)
    error_message = "gpu_driver_version must be DEFAULT or LATEST."
  }
}

variable "gpu_max_nodes" {
  description = "GPU pool autoscaling maximum (whole pool); the minimum is 0, so an idle pool costs nothing."
  type        = number
  default     = 2
  validation {
    condition     = var.gpu_max_nodes >= 1
    error_message = "gpu_max_nodes must be at least 1, or the Trainer never schedules."
  }
}

variable "gpu_node_locations" {
  description = "Zones of the GPU pool, each offering gpu_type; null: the cluster's zones."
  type        = list(string)
  default     = null
}

# --- Images, buckets ----------------------------------------------------------------------
variable "repository_id" {
  description = "Artifact Registry repository of the images."
  type        = string
  default     = "tabml"
}

variable "repository_location" {
  description = "Location of the repository; null: var.region."
  type        = string
  default     = null
}

variable "image_keep_recent_versions" {
  description = "Versions of each image the cleanup policy always keeps."
  type        = number
  default     = 20
}

variable "image_retention_days" {
  description = "Image versions older than this are deleted, unless among the recent ones or tagged staging/production/latest."
  type        = number
  default     = 90
}

variable "bucket_location" {
  description = "Location of the buckets; null: var.region."
  type        = string
  default     = null
}

variable "bucket_prefix" {
  description = "Bucket names are <bucket_prefix>-pipelines, -models, -request-logs and -access-logs; null: the project ID (what cloudbuild.yaml assumes)."
  type        = string
  default     = null
}

variable "pipeline_root_retention_days" {
  description = "Age at which pipeline-root objects are deleted. A cached step whose outputs are gone cannot be reused: keep it longer than caches are relied on."
  type        = number
  default     = 30
}

variable "dataflow_temp_retention_days" {
  description = "Age at which Dataflow's temp and staging files (gs://<pipelines bucket>/dataflow-tmp/) are deleted: longer than a Beam step's job runs."
  type        = number
  default     = 7
  validation {
    condition     = var.dataflow_temp_retention_days >= 1
    error_message = "dataflow_temp_retention_days must be at least 1: a running job reads its staged files."
  }
}

variable "noncurrent_retention_days" {
  description = "How long an overwritten or deleted object version (e.g. of the model registry) can be restored."
  type        = number
  default     = 30
}

variable "request_log_retention_days" {
  description = "Age at which exported request logs and bucket usage logs are deleted."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets (dev only: the model registry goes with them)."
  type        = bool
  default     = false
}

variable "data_buckets" {
  description = "Buckets holding the pipelines' input data (data.path gs://...), readable by the pipelines and Dataflow workers' service accounts."
  type        = list(string)
  default     = []
}

# --- Identities, namespaces ---------------------------------------------------------------
variable "service_account_ids" {
  description = "Account ids of the service accounts; the defaults match cloudbuild.yaml (tabml-pipelines), the serving base manifest (tabml-serving) and the example configs' beam.dataflow.service_account (tabml-dataflow)."
  type = object({
    pipelines  = optional(string, "tabml-pipelines")
    serving    = optional(string, "tabml-serving")
    cloudbuild = optional(string, "tabml-cloudbuild")
    monitoring = optional(string, "tabml-monitoring")
    dataflow   = optional(string, "tabml-dataflow")
  })
  default = {}
}

variable "serving_namespace" {
  description = "Namespace of the InferenceServices: the serving overlay's (tabml-staging, tabml-prod)."
  type        = string
  default     = "tabml-prod"
}

variable "serving_service_account" {
  description = "The predictors' Kubernetes ServiceAccount (serviceAccountName in serving/manifests)."
  type        = string
  default     = "tabml-serving"
}

variable "monitoring_namespace" {
  description = "Namespace of the monitoring job."
  type        = string
  default     = "tabml-monitoring"
}

variable "monitoring_service_account" {
  description = "The monitoring job's Kubernetes ServiceAccount."
  type        = string
  default     = "tabml-monitoring"
}

# --- Cluster software ---------------------------------------------------------------------
variable "kfp_version" {
  description = "Kubeflow Pipelines release installed on the cluster (the compiled kfp packages target KFP 2.x)."
  type        = string
  default     = "2.5.0"
}

variable "kserve_version" {
  description = "KServe release (charts kserve-crd and kserve); the serving image uses kserve 0.15.2."
  type        = string
  default     = "v0.15.2"
}

variable "cert_manager_version" {
  description = "cert-manager chart version (the one KServe's quick install uses)."
  type        = string
  default     = "v1.16.1"
}

variable "helm_timeout_s" {
  description = "How long each Helm release may take to become ready."
  type        = number
  default     = 600
}
