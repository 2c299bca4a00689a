variable "environment" {
  description = "Name of the environment (dev, prod): part of every resource name, and of the knative/ overlay."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be a short lowercase name."
  }
}

variable "region" {
  description = "AWS region of the tables and buckets (the overlay's TRAINYARD_REGION)."
  type        = string
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "eks_oidc_issuer" {
  description = "The cluster's OIDC issuer without https://, e.g. oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE."
  type        = string
}

variable "platform_namespace" {
  description = "Namespace of the trainyard functions and their ServiceAccounts (knative/base)."
  type        = string
  default     = "trainyard"
}

variable "vpc_id" {
  description = "VPC of the cluster; set it to create the S3 interface endpoint that trainer egress is pinned to."
  type        = string
  default     = null
}

variable "s3_endpoint_subnet_ids" {
  description = "Dedicated subnets (one per AZ) for the S3 interface endpoint; their CIDRs go into the NetworkPolicy."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days trainer logs are kept before they expire (they move to infrequent access after 30)."
  type        = number
  default     = 365
}

variable "efs_subnet_ids" {
  description = "Subnets (one per AZ the cluster's nodes run in) that get a mount target of the embeddings file system."
  type        = list(string)
  default     = []
}
