resource "google_artifact_registry_repository" "this" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption; a customer-managed key adds a KMS key ring to run and buys nothing for these build outputs.
  project       = var.project_id
  location      = var.location
  repository_id = var.repository_id
  format        = "DOCKER"
  description   = "tabml images: pipeline, trainer-gpu, serving"
  labels        = var.labels

  # Mutable tags: the serving overlays deploy moving tags (:staging, :production, :latest),
  # re-pointed on each release. Builds push an immutable-by-convention commit tag as well.
  docker_config {
    immutable_tags = false
  }

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.keep_recent_versions
    }
  }

  cleanup_policies {
    id     = "keep-deployed-tags"
    action = "KEEP"
    condition {
      tag_state    = "TAGGED"
      tag_prefixes = var.kept_tag_prefixes
    }
  }

  # KEEP rules win over DELETE ones.
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "${var.delete_older_than_days * 86400}s"
    }
  }
}
