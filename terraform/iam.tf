# IAM roles for service accounts (IRSA): one role per function, trusted by exactly one
# Kubernetes ServiceAccount (knative/base/cluster/rbac.yaml), allowed exactly the tables and
# buckets that function uses. Keep `functions` in step with functions/core: a missing grant
# shows up as AccessDenied in that function's logs. No policy allows a Scan.
#
# The audit trail is append-only for everyone: `append_tables` grant PutItem alone (no
# UpdateItem, DeleteItem or BatchWriteItem), and only the api may read it back. Every role
# also carries an explicit Deny of every changing action but PutItem on the audit table, so
# no later Allow (a table moved into write_tables, another attached policy) can grant one.
# What IAM cannot express: a PutItem that REPLACES an existing item is still a PutItem, and
# no IAM condition key sees a request's ConditionExpression. So overwriting is prevented by
# the code (every audit Put carries attribute_not_exists on its key, in the same
# transaction as the change it records) and made impractical by the key (time + a random
# 128-bit id nobody can read back but the api); point-in-time recovery keeps 35 days of
# history to prove and undo any overwrite (dynamodb.tf).
#
# No function deletes an item or writes in batches (functions/store never calls DeleteItem or
# BatchWriteItem; transactions are authorised item by item as PutItem/UpdateItem/ConditionCheck),
# so no role may. The predictor has no role: it reads models only through pre-signed URLs the
# api issues, and the dead-letter sink only logs.
#
# Trainer pods get NO role and no credentials at all: they run in the jobs namespace under a
# ServiceAccount no role trusts, and reach S3 only through pre-signed URLs.

locals {
  table_arns = {
    projects         = aws_dynamodb_table.projects.arn
    tasks            = aws_dynamodb_table.tasks.arn
    jobs             = aws_dynamodb_table.jobs.arn
    epochs           = aws_dynamodb_table.epochs.arn
    checkpoints      = aws_dynamodb_table.checkpoints.arn
    capacity         = aws_dynamodb_table.capacity.arn
    dedup            = aws_dynamodb_table.dedup.arn
    models           = aws_dynamodb_table.models.arn
    approvals        = aws_dynamodb_table.approvals.arn
    audit            = aws_dynamodb_table.audit.arn
    report_marks     = aws_dynamodb_table.report_marks.arn
    summaries        = aws_dynamodb_table.summaries.arn
    dataset_versions = aws_dynamodb_table.dataset_versions.arn
  }

  # Writers may also read what they write; readers only read.
  functions = {
    api = {
      write_tables  = ["projects", "tasks", "jobs", "dedup", "models", "approvals", "report_marks", "capacity", "summaries", "dataset_versions"] # ingress marks; new tasks; uploads
      read_tables   = ["epochs", "checkpoints", "audit"]
      append_tables = ["audit"]
      write_buckets = ["datasets", "artifacts"] # pre-signed uploads are signed with this role; model archives
      read_buckets  = ["logs"]
    }
    create = {
      write_tables  = ["tasks", "jobs", "dedup", "capacity", "summaries", "dataset_versions"] # a new job: its queue count, its task's row; pins
      read_tables   = ["projects", "approvals"]
      append_tables = ["audit"]
      write_buckets = []
      read_buckets  = ["datasets"] # a dataset uploaded before versions is adopted as version 1
    }
    launch = {
      write_tables  = ["jobs", "capacity", "dedup"]
      read_tables   = ["projects", "tasks", "approvals", "dataset_versions"] # require_validated at launch
      append_tables = ["audit"]
      write_buckets = []
      read_buckets  = []
    }
    report = {
      write_tables  = ["jobs", "epochs", "checkpoints", "dedup", "summaries", "capacity", "dataset_versions"] # summaries: each epoch; validation reports
      read_tables   = ["tasks"]
      append_tables = ["audit"]
      write_buckets = ["logs"] # the log tail a failing trainer reports
      read_buckets  = []
    }
    cleanup = {
      write_tables  = ["jobs", "capacity", "dedup", "summaries"]             # a retry is its task's new row
      read_tables   = ["projects", "tasks", "approvals", "dataset_versions"] # cleanup launches what now fits
      append_tables = ["audit"]
      write_buckets = ["logs"]
      read_buckets  = []
    }
    sweep = {
      write_tables  = ["jobs", "capacity", "dedup", "approvals"]                # records expired grants
      read_tables   = ["projects", "tasks", "report_marks", "dataset_versions"] # no verdict overtakes an accepted report; launches
      append_tables = ["audit"]
      write_buckets = ["logs"] # ships running jobs' logs every tick (functions/core/joblogs.py)
      read_buckets  = []
    }
  }

  table_read_actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]
  table_write_actions  = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
  table_append_actions = ["dynamodb:PutItem"]
  audit_denied_actions = ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete", "dynamodb:PartiQLInsert", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:RestoreTableToPointInTime"]
  bucket_read_actions  = ["s3:GetObject"]
  bucket_write_actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
}

resource "aws_iam_role" "function" {
  for_each             = local.functions
  name                 = "${local.name}-${each.key}"
  description          = "trainyard ${each.key} (IRSA: ${var.platform_namespace}/trainyard-${each.key})"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "trust" {
  for_each = local.functions
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.platform_namespace}:trainyard-${each.key}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "data-access"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.access[each.key].json
}

data "aws_iam_policy_document" "access" {
  for_each = local.functions

  dynamic "statement" {
    for_each = length(each.value.write_tables) > 0 ? [1] : []
    content {
      sid       = "WriteTables"
      actions   = concat(local.table_read_actions, local.table_write_actions)
      resources = flatten([for t in each.value.write_tables : [local.table_arns[t], "${local.table_arns[t]}/index/*"]])
    }
  }

  dynamic "statement" {
    for_each = length(each.value.read_tables) > 0 ? [1] : []
    content {
      sid       = "ReadTables"
      actions   = local.table_read_actions
      resources = flatten([for t in each.value.read_tables : [local.table_arns[t], "${local.table_arns[t]}/index/*"]])
    }
  }

  dynamic "statement" {
    for_each = length(each.value.append_tables) > 0 ? [1] : []
    content {
      sid       = "AppendOnlyTables"
      actions   = local.table_append_actions
      resources = [for t in each.value.append_tables : local.table_arns[t]]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.write_buckets) > 0 ? [1] : []
    content {
      sid       = "WriteObjects"
      actions   = concat(local.bucket_read_actions, local.bucket_write_actions)
      resources = [for b in each.value.write_buckets : "${local.bucket_arns[b]}/*"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.read_buckets) > 0 ? [1] : []
    content {
      sid       = "ReadObjects"
      actions   = local.bucket_read_actions
      resources = [for b in each.value.read_buckets : "${local.bucket_arns[b]}/*"]
    }
  }

  statement {
    sid       = "AuditTrailIsAppendOnly"
    effect    = "Deny"
    actions   = local.audit_denied_actions
    resources = [local.table_arns["audit"], "${local.table_arns["audit"]}/index/*"]
  }

  # The data key, only as DynamoDB and S3 use it on this role's behalf.
  statement {
    sid = "UseDataKeyThroughDynamoDbAndS3"
    actions = concat(["kms:Decrypt", "kms:DescribeKey"],
    length(each.value.write_tables) + length(each.value.append_tables) + length(each.value.write_buckets) > 0 ? ["kms:GenerateDataKey"] : [])
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com", "s3.${var.region}.amazonaws.com"]
    }
  }
}
