locals {
  namespace       = "kubeflow"        # fixed by the KFP manifests
  service_account = "pipeline-runner" # the ServiceAccount KFP runs pipeline pods as
}

# Kubeflow Pipelines standalone ships as kustomize manifests, not a Helm chart: install.sh
# applies them with kubectl as the KFP docs do. The runner needs kubectl and git; the
# credentials come from here, in the environment (so terraform hides the script's output).
resource "terraform_data" "kfp" {
  triggers_replace = [var.kfp_version]

  provisioner "local-exec" {
    command = "bash ${path.module}/install.sh"
    environment = {
      KFP_VERSION = var.kfp_version
      KUBE_HOST   = var.cluster_endpoint
      KUBE_CA     = var.cluster_ca_certificate
      KUBE_TOKEN  = var.access_token
    }
  }
}

# Pipeline pods then reach GCS (pipeline root, model registry) as the pipelines account.
resource "kubernetes_annotations" "pipeline_runner" {
  api_version = "v1"
  kind        = "ServiceAccount"
  metadata {
    name      = local.service_account
    namespace = local.namespace
  }
  annotations = {
    "iam.gke.io/gcp-service-account" = var.pipelines_service_account
  }
  force = true

  depends_on = [terraform_data.kfp]
}
