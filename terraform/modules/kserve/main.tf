# Order matters (kserve#3894): cert-manager issues the KServe webhook's certificate, and the
# kserve chart's objects need the CRDs of kserve-crd.

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.cert_manager_version
  namespace        = "cert-manager"
  create_namespace = true
  wait             = true
  atomic           = true
  timeout          = var.timeout_s
  values = [yamlencode({
    crds = { enabled = true }
  })]
}

resource "helm_release" "kserve_crd" {
  name             = "kserve-crd"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = var.kserve_version
  namespace        = "kserve"
  create_namespace = true
  wait             = true
  atomic           = true
  timeout          = var.timeout_s

  depends_on = [helm_release.cert_manager]
}

resource "helm_release" "kserve" {
  name       = "kserve"
  repository = "oci://ghcr.io/kserve/charts"
  chart      = "kserve"
  version    = var.kserve_version
  namespace  = "kserve"
  wait       = true
  atomic     = true
  timeout    = var.timeout_s
  values = [yamlencode({
    kserve = {
      controller = {
        # Plain Deployments and Services: no Knative, no Istio.
        deploymentMode = "RawDeployment"
        # No Ingress per InferenceService (the chart's default class, istio, is not installed
        # here); callers in the cluster use the predictor Service, others an Ingress of yours.
        gateway = { disableIngressCreation = true }
      }
    }
  })]

  depends_on = [helm_release.kserve_crd]
}
