# Three buckets, one purpose each (functions/settings.py *_bucket), all built by
# modules/private-bucket: private, versioned, encrypted with the data key, TLS only. Trainers
# never hold credentials for them: the platform hands out pre-signed URLs.

module "datasets" {
  source      = "./modules/private-bucket"
  name        = "${local.name}-datasets"
  purpose     = "Customer datasets: read by trainers through pre-signed URLs, governed by approvals."
  kms_key_arn = aws_kms_key.data.arn
}

module "artifacts" {
  source      = "./modules/private-bucket"
  name        = "${local.name}-artifacts"
  purpose     = "Checkpoints, processed data and published models."
  kms_key_arn = aws_kms_key.data.arn
}

module "logs" {
  source            = "./modules/private-bucket"
  name              = "${local.name}-logs"
  purpose           = "Trainer logs kept at cleanup."
  kms_key_arn       = aws_kms_key.data.arn
  expire_after_days = var.log_retention_days
}

locals {
  bucket_arns = {
    datasets  = module.datasets.arn
    artifacts = module.artifacts.arn
    logs      = module.logs.arn
  }
}
