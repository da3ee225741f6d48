variable "project_id" {
  description = "The project of the repository."
  type        = string
}

variable "location" {
  description = "The repository's region (or multi-region: us, europe, asia)."
  type        = string
}

variable "repository_id" {
  description = "The repository's name: images are <location>-docker.pkg.dev/<project>/<this>/<image>."
  type        = string
}

variable "keep_recent_versions" {
  description = "Versions of each image kept whatever their age."
  type        = number
}

variable "delete_older_than_days" {
  description = "Versions older than this are deleted, unless kept by a rule above."
  type        = number
}

variable "kept_tag_prefixes" {
  description = "Tags whose versions are never cleaned up (the ones the serving overlays deploy)."
  type        = list(string)
}

variable "labels" {
  description = "Labels on the repository."
  type        = map(string)
}
