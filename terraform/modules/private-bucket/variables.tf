variable "name" {
  description = "Bucket name."
  type        = string
}

variable "purpose" {
  description = "What the bucket holds (a tag)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for default encryption."
  type        = string
}

variable "expire_after_days" {
  description = "Delete objects this many days after creation; null keeps them. Past 60, they move to STANDARD_IA at 30."
  type        = number
  default     = null
  validation {
    condition     = var.expire_after_days == null || coalesce(var.expire_after_days, 0) >= 1
    error_message = "expire_after_days must be at least 1."
  }
}
