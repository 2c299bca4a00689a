# One private bucket: no ACLs, no public access, versioned, encrypted with the given KMS key,
# TLS only, with housekeeping lifecycle rules (and expiry where the data is disposable).

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:object-level access is audited by CloudTrail S3 data events; server access logs cannot target an SSE-KMS bucket
  #checkov:skip=CKV_AWS_144:cross-region replication is a per-deployment disaster-recovery choice; versioning keeps prior objects
  #checkov:skip=CKV2_AWS_62:no consumer of S3 event notifications: the platform learns of uploads through its own events
  bucket        = var.name
  force_destroy = false
  tags          = { purpose = var.purpose }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs: access is IAM and pre-signed URLs only
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true # one KMS call per bucket key, not per object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

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
    # Disposable data only (logs): cheaper storage after a month, gone after the retention period.
    dynamic "transition" {
      for_each = var.expire_after_days != null && coalesce(var.expire_after_days, 0) > 60 ? [30] : []
      content {
        days          = transition.value
        storage_class = "STANDARD_IA"
      }
    }
    dynamic "expiration" {
      for_each = var.expire_after_days == null ? [] : [var.expire_after_days]
      content {
        days = expiration.value
      }
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
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
