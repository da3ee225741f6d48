# Development: one zone, small pools, everything destroyable.
# Replace project_id and master_authorized_networks with yours.
project_id  = "my-tabml-dev"
environment = "dev"
region      = "us-central1"

cluster_location    = "us-central1-a" # zonal: one control plane, cheaper; us-central1-a offers L4
deletion_protection = false
force_destroy       = true
release_channel     = "REGULAR"

master_authorized_networks = [
  { cidr_block = "203.0.113.0/24", display_name = "replace-with-your-network" },
]

cpu_min_nodes = 1
cpu_max_nodes = 3
gpu_max_nodes = 1

pipeline_root_retention_days = 14
request_log_retention_days   = 30

# The staging overlay: serving/manifests/overlays/staging.
serving_namespace   = "tabml-staging"
service_account_ids = { serving = "tabml-serving-staging" }
