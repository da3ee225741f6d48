output "namespace" {
  description = "KServe's namespace."
  value       = helm_release.kserve.namespace
}

output "kserve_version" {
  description = "The installed KServe version."
  value       = helm_release.kserve.version
}

output "kserve_release" {
  description = "The kserve helm_release (for the stack's plan-level tests)."
  value       = helm_release.kserve
}
