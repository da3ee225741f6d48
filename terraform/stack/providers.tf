provider "google" {
  project = var.project_id
  region  = var.region
}

# The caller's own Google credentials, as an OAuth token the cluster accepts.
data "google_client_config" "current" {}

locals {
  cluster_host = "https://${module.gke.endpoint}"
  cluster_ca   = base64decode(module.gke.ca_certificate)
}

provider "kubernetes" {
  host                   = local.cluster_host
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = local.cluster_ca
}

provider "helm" {
  kubernetes = {
    host                   = local.cluster_host
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = local.cluster_ca
  }
}
