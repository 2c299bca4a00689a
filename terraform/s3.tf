# Three buckets, one purpose each (functions/settings.py *_bucket): customer datasets,
# artifacts (checkpoints, uploads, published models) and trainer logs. All private, versioned,
# encrypted with the data key, TLS only. Trainers never hold credentials for them: the platform
# hands out pre-signed URLs.

locals {
  buckets = {
    datasets  = "Customer datasets: read by trainers through pre-signed URLs, governed by approvals."
    artifacts = "Checkpoints, processed data and published models."
    logs      = "Trainer logs kept at cleanup."
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:object-level access is audited by CloudTrail S3 data events (org trail); server access logs cannot target an SSE-KMS bucket
  #checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery choice per deployment, not a default (versioning keeps prior objects)
  #checkov:skip=CKV2_AWS_62:no consumer of S3 event notifications: the platform learns of uploads through its own events
  for_each      = local.buckets
  bucket        = "${local.name}-${each.key}"
  force_destroy = false
  tags          = { purpose = each.value }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs: access is IAM and pre-signed URLs only
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true # one KMS call per bucket key, not per object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id

  rule {
    id     = "housekeeping"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = 90 # long enough to undo a bad overwrite or delete
    }
  }

  # Logs only: cheaper storage after a month, gone after the retention period.
  dynamic "rule" {
    for_each = each.key == "logs" ? [1] : []
    content {
      id     = "log-retention"
      status = "Enabled"
      filter {}
      transition {
        days          = 30
        storage_class = "STANDARD_IA"
      }
      expiration {
        days = var.log_retention_days
      }
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
