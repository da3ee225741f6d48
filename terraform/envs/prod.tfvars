# Production: regional control plane and nodes, protected from destroy.
# Replace project_id and master_authorized_networks with yours.
project_id  = "my-tabml-prod"
environment = "prod"
region      = "us-central1"

cluster_location    = "us-central1" # regional
deletion_protection = true
force_destroy       = false
release_channel     = "STABLE"

master_authorized_networks = [
  { cidr_block = "203.0.113.0/24", display_name = "replace-with-your-network" },
]

cpu_min_nodes = 3
cpu_max_nodes = 6
gpu_max_nodes = 2
# Zones of us-central1 that offer NVIDIA L4 (g2); check yours with
# gcloud compute accelerator-types list --filter="name=nvidia-l4 AND zone~us-central1".
gpu_node_locations = ["us-central1-a", "us-central1-b", "us-central1-c"]

# The production overlay: serving/manifests/overlays/production.
serving_namespace   = "tabml-prod"
service_account_ids = { serving = "tabml-serving-prod" }
