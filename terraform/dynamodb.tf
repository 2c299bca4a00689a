# The DynamoDB tables, exactly as functions/store/tables.py defines them (keys, key attribute
# types, global secondary indexes, TTL): tests/unit/deploy/test_terraform.py compares the two.
# On-demand billing (traffic follows training bursts), point-in-time recovery, encryption with
# the data key, and deletion protection everywhere.

resource "aws_dynamodb_table" "projects" {
  name                        = "${local.table_prefix}projects"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "project_id"

  attribute {
    name = "created_at"
    type = "S"
  }

  attribute {
    name = "project_id"
    type = "S"
  }

  attribute {
    name = "tenant"
    type = "S"
  }

  global_secondary_index {
    name            = "by_tenant"
    hash_key        = "tenant"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "tasks" {
  name                        = "${local.table_prefix}tasks"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "task_id"

  attribute {
    name = "created_at"
    type = "S"
  }

  attribute {
    name = "project_id"
    type = "S"
  }

  attribute {
    name = "task_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_project"
    hash_key        = "project_id"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "jobs" {
  name                        = "${local.table_prefix}jobs"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "job_id"

  attribute {
    name = "active_pool"
    type = "S"
  }

  attribute {
    name = "attempt"
    type = "N"
  }

  attribute {
    name = "deadline_at"
    type = "S"
  }

  attribute {
    name = "finished_at"
    type = "S"
  }

  attribute {
    name = "job_id"
    type = "S"
  }

  attribute {
    name = "queue_key"
    type = "S"
  }

  attribute {
    name = "queue_pool"
    type = "S"
  }

  attribute {
    name = "release_pool"
    type = "S"
  }

  attribute {
    name = "task_id"
    type = "S"
  }

  global_secondary_index {
    name            = "by_task"
    hash_key        = "task_id"
    range_key       = "attempt"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "deadlines"
    hash_key        = "active_pool"
    range_key       = "deadline_at"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "queue"
    hash_key        = "queue_pool"
    range_key       = "queue_key"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "unreleased"
    hash_key        = "release_pool"
    range_key       = "finished_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "epochs" {
  name                        = "${local.table_prefix}epochs"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "job_id"
  range_key                   = "epoch"

  attribute {
    name = "epoch"
    type = "N"
  }

  attribute {
    name = "job_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "checkpoints" {
  name                        = "${local.table_prefix}checkpoints"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "job_id"
  range_key                   = "epoch"

  attribute {
    name = "epoch"
    type = "N"
  }

  attribute {
    name = "job_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "capacity" {
  name                        = "${local.table_prefix}capacity"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "pk"
  range_key                   = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}

resource "aws_dynamodb_table" "dedup" {
  name                        = "${local.table_prefix}dedup"
  billing_mode                = "PAY_PER_REQUEST"
  deletion_protection_enabled = true
  hash_key                    = "key"

  attribute {
    name = "key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
}
