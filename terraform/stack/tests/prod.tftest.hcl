# Plan-level assertions with the prod tfvars:
#   tofu test -var-file=../envs/prod.tfvars -filter=tests/prod.tftest.hcl
mock_provider "google" {
  # Values the real providers compute at apply time and the stack reads while planning.
  mock_resource "google_container_cluster" {
    defaults = {
      endpoint    = "203.0.113.10"
      master_auth = { cluster_ca_certificate = "Y2EtY2VydA==" }
    }
  }

  mock_resource "google_service_account" {
    defaults = {
      email  = "mock@example.iam.gserviceaccount.com"
      member = "serviceAccount:mock@example.iam.gserviceaccount.com"
      name   = "projects/mock/serviceAccounts/mock@example.iam.gserviceaccount.com"
    }
  }

  mock_data "google_client_config" {
    defaults = {
      access_token = "mock-token"
    }
  }
}
mock_provider "kubernetes" {}
mock_provider "helm" {}

run "prod_is_regional_protected_and_stable" {
  command = plan

  assert {
    condition     = module.gke.cluster.location == "us-central1" && module.gke.cluster.deletion_protection
    error_message = "prod is regional and protected from destroy."
  }
  assert {
    condition     = module.gke.cluster.release_channel[0].channel == "STABLE"
    error_message = "prod follows the STABLE channel."
  }
  assert {
    condition     = length(module.gke.gpu_pool.node_locations) == 3 && module.gke.gpu_pool.autoscaling[0].total_max_node_count == 2
    error_message = "prod's GPU pool spans three zones, at most two nodes in all."
  }
  assert {
    condition     = alltrue([for b in module.storage.buckets : !b.force_destroy])
    error_message = "prod buckets cannot be destroyed with their objects."
  }
}

run "a_trainer_request_that_does_not_fit_is_refused_by_the_variable_check" {
  command = plan
  variables {
    gpu_machine_type = "g2-standard-2"
  }
  expect_failures = [var.gpu_machine_type]
}
