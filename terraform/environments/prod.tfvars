# terraform apply -var-file=environments/prod.tfvars  (pairs with knative/overlays/prod)
environment            = "prod"
region                 = "eu-west-1"
eks_oidc_provider_arn  = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEPROD"
eks_oidc_issuer        = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEPROD"
vpc_id                 = "vpc-0123456789abcdef0"
s3_endpoint_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
log_retention_days     = 365
