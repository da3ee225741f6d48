resource "google_project_service" "this" {
  for_each = toset(var.services)

  project = var.project_id
  service = each.value
  # Other stacks in the project may use the same APIs: destroying this one leaves them on.
  disable_on_destroy = false
}
