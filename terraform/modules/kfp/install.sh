#!/usr/bin/env bash
# Installs Kubeflow Pipelines standalone, release $KFP_VERSION, env/platform-agnostic, as the
# KFP docs do. Run by terraform (modules/kfp); to see its output, run it by hand:
#   KFP_VERSION=2.5.0 KUBE_HOST=<endpoint> KUBE_CA=<base64 CA> KUBE_TOKEN=$(gcloud auth print-access-token) \
#     bash terraform/modules/kfp/install.sh
# Needs kubectl (its built-in kustomize fetches the manifests with git).
set -euo pipefail
: "${KFP_VERSION:?}" "${KUBE_HOST:?}" "${KUBE_CA:?}" "${KUBE_TOKEN:?}"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A kubeconfig of its own: the token stays off the command lines.
cat >"$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: target
    cluster:
      server: https://${KUBE_HOST}
      certificate-authority-data: ${KUBE_CA}
users:
  - name: terraform
    user:
      token: ${KUBE_TOKEN}
contexts:
  - name: target
    context: {cluster: target, user: terraform}
current-context: target
KUBECONFIG
export KUBECONFIG="$dir/kubeconfig"

manifests="github.com/kubeflow/pipelines/manifests/kustomize"
kubectl apply -k "$manifests/cluster-scoped-resources?ref=$KFP_VERSION"
kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kubectl apply -k "$manifests/env/platform-agnostic?ref=$KFP_VERSION"
kubectl wait --for condition=Available --timeout=1200s --namespace kubeflow deployment --all
