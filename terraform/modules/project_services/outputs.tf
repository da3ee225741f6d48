output "project_id" {
  description = "The project, once its APIs are on: modules that take it wait for them."
  value       = var.project_id
  depends_on  = [google_project_service.this]
}

output "services" {
  description = "The APIs enabled, for the stack's plan-level tests."
  value       = sort(keys(google_project_service.this))
}
