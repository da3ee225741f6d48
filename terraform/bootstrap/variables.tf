variable "project_id" {
  description = "The project that holds the Terraform state bucket."
  type        = string
}

variable "location" {
  description = "Location of the state bucket."
  type        = string
  default     = "US-CENTRAL1"
}

variable "bucket_name" {
  description = "Name of the state bucket; null: <project_id>-tfstate (what envs/*.backend.hcl name)."
  type        = string
  default     = null
}

variable "state_versions_kept" {
  description = "Older versions of each state file kept (to roll back a bad apply)."
  type        = number
  default     = 20
}
