variable "cert_manager_version" {
  description = "Version of the jetstack cert-manager chart (KServe's webhook certificate)."
  type        = string
}

variable "kserve_version" {
  description = "Version of the kserve-crd and kserve charts; the serving image's kserve library matches it."
  type        = string
}

variable "timeout_s" {
  description = "How long each release may take to become ready."
  type        = number
}
