output "table_prefix" {
  description = "TRAINYARD_TABLE_PREFIX for the functions (knative/overlays/<env>/config.yaml)."
  value       = local.table_prefix
}

output "buckets" {
  description = "TRAINYARD_{DATASETS,ARTIFACTS,LOGS}_BUCKET."
  value       = { datasets = module.datasets.bucket, artifacts = module.artifacts.bucket, logs = module.logs.bucket }
}

output "irsa_role_arns" {
  description = "eks.amazonaws.com/role-arn of each ServiceAccount (knative/overlays/<env>/irsa.yaml)."
  value       = { for key, role in aws_iam_role.function : "trainyard-${key}" => role.arn }
}

output "s3_endpoint_cidrs" {
  description = "CIDRs the trainers' NetworkPolicy allows on 443 (knative/overlays/<env>/s3-egress.yaml)."
  value       = [for subnet in data.aws_subnet.s3_endpoint : subnet.cidr_block]
}

output "data_key_arn" {
  description = "The KMS key of the tables and buckets."
  value       = aws_kms_key.data.arn
}

output "efs_file_system_id" {
  description = "fileSystemId of the efs-sc StorageClass (knative/overlays/<env>/efs.yaml)."
  value       = one(aws_efs_file_system.embeddings[*].id)
}
