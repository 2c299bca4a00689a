# trainyard's AWS side: DynamoDB tables (dynamodb.tf, the exact twins of
# functions/store/tables.py), S3 buckets (s3.tf), IRSA roles per function (iam.tf) and the S3
# interface endpoint trainer pods are pinned to (network.tf). Usage: see knative/README.md.

locals {
  name = "trainyard-${var.environment}"
  # functions/settings.py TRAINYARD_TABLE_PREFIX: tables are "<prefix><table>", e.g. trainyard-prod-jobs.
  table_prefix = "${local.name}-"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# One customer-managed key for the tables and buckets: access to data needs both an IAM grant on
# the resource and kms use on this key, and the key's usage is auditable in CloudTrail.
resource "aws_kms_key" "data" {
  description             = "${local.name}: DynamoDB tables and S3 buckets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

# The account administers the key through IAM; the IRSA policies in iam.tf grant its use.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:a key policy's Resource "*" is this key alone; the root grant delegates to IAM (AWS's default key policy)
  #checkov:skip=CKV_AWS_356:as above: "*" in a key policy names only this key
  #checkov:skip=CKV_AWS_109:as above: only principals the account's IAM policies allow may use or manage the key
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}
