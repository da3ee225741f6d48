output "state_bucket" {
  description = "The bucket for envs/<env>.backend.hcl."
  value       = google_storage_bucket.tfstate.name
}
