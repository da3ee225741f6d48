resource "kubernetes_namespace" "serving" {
  metadata {
    name = var.serving_namespace
  }
}

# The serving manifests declare this ServiceAccount too (same name, same annotation) and
# add their labels when applied; terraform leaves labels alone.
resource "kubernetes_service_account" "serving" {
  metadata {
    name      = var.serving_service_account
    namespace = kubernetes_namespace.serving.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = var.serving_gcp_service_account
    }
  }

  lifecycle {
    ignore_changes = [metadata[0].labels]
  }
}

# What the Pusher (and tabml-rollout) do to an InferenceService: read, create, patch the
# storage URI and traffic, watch the rollout; pods, events and Deployments for diagnostics.
resource "kubernetes_role" "deployer" {
  metadata {
    name      = "tabml-deployer"
    namespace = kubernetes_namespace.serving.metadata[0].name
  }

  rule {
    api_groups = ["serving.kserve.io"]
    resources  = ["inferenceservices"]
    verbs      = ["get", "list", "watch", "create", "patch", "update"]
  }

  rule {
    api_groups = ["apps"]
    resources  = ["deployments"]
    verbs      = ["get", "list"]
  }

  rule {
    api_groups = [""]
    resources  = ["pods", "events"]
    verbs      = ["get", "list"]
  }
}

resource "kubernetes_role_binding" "deployer" {
  metadata {
    name      = "tabml-deployer"
    namespace = kubernetes_namespace.serving.metadata[0].name
  }

  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role.deployer.metadata[0].name
  }

  subject {
    kind      = "ServiceAccount"
    name      = var.deployer.name
    namespace = var.deployer.namespace
  }
}

resource "kubernetes_namespace" "monitoring" {
  metadata {
    name = var.monitoring_namespace
  }
}

resource "kubernetes_service_account" "monitoring" {
  metadata {
    name      = var.monitoring_service_account
    namespace = kubernetes_namespace.monitoring.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = var.monitoring_gcp_service_account
    }
  }
}
