# Plan-level assertions on the whole stack, run with the dev tfvars:
#   tofu test -var-file=../envs/dev.tfvars -filter=tests/dev.tftest.hcl
# The providers are mocked (no cloud here); their schemas are the pinned ones.
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

# Every other account is mock@ (the mock_resource above); the Dataflow workers' one is told apart.
override_resource {
  target = module.iam.google_service_account.dataflow_worker
  values = {
    email  = "tabml-dataflow@my-tabml-dev.iam.gserviceaccount.com"
    member = "serviceAccount:tabml-dataflow@my-tabml-dev.iam.gserviceaccount.com"
    name   = "projects/my-tabml-dev/serviceAccounts/tabml-dataflow@my-tabml-dev.iam.gserviceaccount.com"
  }
}

run "gpu_pool_fits_the_trainer_and_keeps_other_pods_off" {
  command = plan

  assert {
    condition     = module.gke.gpu_pool.node_config[0].machine_type == "g2-standard-4"
    error_message = "The GPU pool's machine type must be the one the Trainer's request is validated against (contracts/machines.py)."
  }
  assert {
    condition = (
      module.gke.gpu_pool.node_config[0].guest_accelerator[0].type == "nvidia-l4" &&
      module.gke.gpu_pool.node_config[0].guest_accelerator[0].count == 1 &&
      module.gke.gpu_pool.node_config[0].guest_accelerator[0].gpu_driver_installation_config[0].gpu_driver_version == "LATEST"
    )
    error_message = "One NVIDIA L4 per node, with the driver installed by GKE."
  }
  assert {
    condition = anytrue([for t in module.gke.gpu_pool.node_config[0].taint :
    t.key == "nvidia.com/gpu" && t.effect == "NO_SCHEDULE"])
    error_message = "The GPU pool must carry the nvidia.com/gpu NoSchedule taint the Trainer tolerates."
  }
  assert {
    condition     = module.gke.gpu_pool.autoscaling[0].total_min_node_count == 0 && module.gke.gpu_pool.autoscaling[0].total_max_node_count == 1
    error_message = "The GPU pool scales from zero (dev: at most one node)."
  }
  assert {
    condition     = module.gke.gpu_pool.node_config[0].workload_metadata_config[0].mode == "GKE_METADATA"
    error_message = "GPU pods must get Google credentials through Workload Identity only."
  }
}

run "cluster_is_private_shielded_and_uses_workload_identity" {
  command = plan

  assert {
    condition     = module.gke.cluster.workload_identity_config[0].workload_pool == "my-tabml-dev.svc.id.goog"
    error_message = "Workload Identity pool must be PROJECT.svc.id.goog."
  }
  assert {
    condition     = module.gke.cluster.private_cluster_config[0].enable_private_nodes && module.gke.cluster.enable_shielded_nodes
    error_message = "Nodes are private and shielded."
  }
  assert {
    condition     = module.gke.cluster.location == "us-central1-a" && !module.gke.cluster.deletion_protection
    error_message = "dev is zonal and destroyable."
  }
  assert {
    condition     = module.gke.cluster.release_channel[0].channel == "REGULAR"
    error_message = "dev follows the REGULAR channel."
  }
}

run "workload_identity_binds_each_kubernetes_account_to_its_google_account" {
  command = plan

  assert {
    condition = toset([for b in module.iam.workload_identity_bindings : b.member]) == toset([
      "serviceAccount:my-tabml-dev.svc.id.goog[kubeflow/pipeline-runner]",
      "serviceAccount:my-tabml-dev.svc.id.goog[tabml-staging/tabml-serving]",
      "serviceAccount:my-tabml-dev.svc.id.goog[tabml-monitoring/tabml-monitoring]",
    ])
    error_message = "KFP's pipeline-runner, the predictors and the monitoring job each act as their own Google account."
  }
  assert {
    condition     = alltrue([for b in module.iam.workload_identity_bindings : b.role == "roles/iam.workloadIdentityUser"])
    error_message = "Workload Identity bindings grant roles/iam.workloadIdentityUser only."
  }
}

run "iam_is_least_privilege" {
  command = plan

  assert {
    condition = length([for m in module.iam.project_roles : m.role
    if contains(["roles/owner", "roles/editor", "roles/viewer", "roles/storage.admin", "roles/iam.serviceAccountUser", "roles/dataflow.admin"], m.role)]) == 0
    error_message = "No basic roles, no project-wide storage admin, no project-wide actAs, no Dataflow admin."
  }
  assert {
    condition = toset([for b in module.iam.bucket_roles : "${b.bucket} ${b.role}" if strcontains(b.member, "mock@")]) == toset([
      "my-tabml-dev-pipelines roles/storage.objectAdmin",
      "my-tabml-dev-models roles/storage.objectAdmin",
      "my-tabml-dev-models roles/storage.objectViewer",
      "my-tabml-dev-request-logs roles/storage.objectViewer",
    ])
    error_message = "Bucket roles: pipelines write the root and the registry; serving and monitoring only read."
  }
}

run "whoever_starts_runs_may_list_the_data" {
  command = plan
  variables {
    data_buckets = ["my-tabml-dev-data"]
  }

  assert {
    # The pipelines account reads it; Cloud Build and the monitoring job fingerprint it when
    # they start a run (ExampleGen's cache key).
    condition = length([for b in module.iam.bucket_roles : b
    if b.bucket == "my-tabml-dev-data" && b.role == "roles/storage.objectViewer"]) == 4
    error_message = "The data buckets are readable by the pipelines, Cloud Build, monitoring and Dataflow workers' accounts, and by no one else."
  }
  assert {
    condition = anytrue([for b in module.iam.bucket_roles :
    b.bucket == "my-tabml-dev-data" && b.role == "roles/storage.objectViewer" && strcontains(b.member, "tabml-dataflow@")])
    error_message = "Dataflow workers (ExampleGen on Dataflow) read the data buckets."
  }
}

run "buckets_keep_what_must_not_be_lost" {
  command = plan

  assert {
    condition     = module.storage.model_bucket_resource.versioning[0].enabled
    error_message = "The model registry keeps old object versions."
  }
  assert {
    condition = alltrue([for b in module.storage.buckets :
    b.uniform_bucket_level_access && b.public_access_prevention == "enforced"])
    error_message = "Every bucket: uniform access, public access prevention enforced."
  }
  assert {
    condition     = output.model_registry == "gs://my-tabml-dev-models/registry" && output.pipeline_root == "gs://my-tabml-dev-pipelines/root"
    error_message = "The outputs the CLI consumes name the buckets."
  }
}

run "kserve_is_raw_deployment_and_the_pipeline_may_roll_it_out" {
  command = plan

  assert {
    condition     = yamldecode(module.kserve.kserve_release.values[0]).kserve.controller.deploymentMode == "RawDeployment"
    error_message = "KServe runs in RawDeployment mode (no Knative, no Istio)."
  }
  assert {
    condition = anytrue([for r in module.k8s_access.deployer_role.rule :
    contains(r.resources, "inferenceservices") && contains(r.verbs, "patch") && contains(r.api_groups, "serving.kserve.io")])
    error_message = "The pipeline's service account may patch InferenceServices in the serving namespace."
  }
  assert {
    condition = (
      module.k8s_access.deployer_binding.subject[0].name == "pipeline-runner" &&
      module.k8s_access.deployer_binding.subject[0].namespace == "kubeflow" &&
      module.k8s_access.deployer_binding.metadata[0].namespace == "tabml-staging"
    )
    error_message = "The deployer role is bound to KFP's pipeline-runner, in the serving namespace only."
  }
}

run "dataflow_workers_and_launcher_are_least_privilege" {
  command = plan

  assert {
    condition     = contains(module.project_services.services, "dataflow.googleapis.com")
    error_message = "The Dataflow API is enabled."
  }
  assert {
    condition = toset([for m in module.iam.project_roles : m.role if strcontains(m.member, "tabml-dataflow@")]) == toset([
      "roles/dataflow.worker",
    ])
    error_message = "The workers' only project role is roles/dataflow.worker."
  }
  assert {
    condition = anytrue([for m in module.iam.project_roles :
    m.role == "roles/dataflow.developer" && m.member == "serviceAccount:mock@example.iam.gserviceaccount.com"])
    error_message = "The pipelines account launches Dataflow jobs: roles/dataflow.developer."
  }
  assert {
    condition = toset([for b in module.iam.bucket_roles : "${b.bucket} ${b.role}" if strcontains(b.member, "tabml-dataflow@")]) == toset([
      "my-tabml-dev-pipelines roles/storage.objectAdmin",
      "my-tabml-dev-models roles/storage.objectViewer",
    ])
    error_message = "Dataflow workers write the pipeline root and temp_location, and only read the registry (no data buckets in dev)."
  }
  assert {
    condition = anytrue([for r in module.iam.repository_roles :
    r.role == "roles/artifactregistry.reader" && strcontains(r.member, "tabml-dataflow@") && r.repository == "tabml"])
    error_message = "Dataflow workers pull the SDK container image from the repository."
  }
  assert {
    condition = [for b in module.iam.act_as_bindings : "${b.role} ${b.member}" if strcontains(b.service_account_id, "tabml-dataflow@")] == [
      "roles/iam.serviceAccountUser serviceAccount:mock@example.iam.gserviceaccount.com",
    ]
    error_message = "Only the pipelines account may run jobs as the Dataflow workers' account."
  }
  assert {
    condition     = length([for b in module.iam.act_as_bindings : b if strcontains(b.member, "tabml-dataflow@")]) == 0
    error_message = "The Dataflow workers' account acts as no other account."
  }
}

run "dataflow_workers_have_their_subnet_and_can_talk" {
  command = plan

  assert {
    condition = (
      module.network.dataflow_subnetwork_resource.private_ip_google_access &&
      module.network.dataflow_subnetwork_resource.ip_cidr_range == "10.10.16.0/22"
    )
    error_message = "The Dataflow subnet has Private Google Access (workers without public IPs pull the image, read GCS)."
  }
  assert {
    condition = (
      module.network.dataflow_firewall.direction == "INGRESS" &&
      toset(module.network.dataflow_firewall.source_tags) == toset(["dataflow"]) &&
      toset(module.network.dataflow_firewall.target_tags) == toset(["dataflow"]) &&
      [for a in module.network.dataflow_firewall.allow : "${a.protocol} ${join(",", a.ports)}"] == ["tcp 12345-12346"] &&
      length(coalesce(module.network.dataflow_firewall.source_ranges, toset([]))) == 0
    )
    error_message = "Dataflow workers reach each other on TCP 12345-12346 (tag dataflow to tag dataflow), and nothing else is opened."
  }
  assert {
    condition = output.tabml_beam_dataflow == {
      project         = "my-tabml-dev"
      region          = "us-central1"
      service_account = "tabml-dataflow@my-tabml-dev.iam.gserviceaccount.com"
      subnetwork      = "regions/us-central1/subnetworks/tabml-dataflow"
      temp_location   = "gs://my-tabml-dev-pipelines/dataflow-tmp"
    }
    error_message = "The beam.dataflow section names the workers' account, their subnet and a temp prefix of the pipelines bucket."
  }
  assert {
    condition = anytrue([for r in module.storage.pipeline_bucket_resource.lifecycle_rule :
    toset(r.condition[0].matches_prefix) == toset(["dataflow-tmp/"]) && r.condition[0].age == 7 && r.action[0].type == "Delete"])
    error_message = "Dataflow's temp files are deleted after dataflow_temp_retention_days (7)."
  }
}
