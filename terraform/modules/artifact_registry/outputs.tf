output "repository_id" {
  description = "The repository's name."
  value       = google_artifact_registry_repository.this.repository_id
}

output "location" {
  description = "The repository's location."
  value       = google_artifact_registry_repository.this.location
}

output "image_registry" {
  description = "The image prefix to push to and pull from: <location>-docker.pkg.dev/<project>/<repository>."
  value       = "${google_artifact_registry_repository.this.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}"
}
