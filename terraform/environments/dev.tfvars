# terraform apply -var-file=environments/dev.tfvars  (pairs with knative/overlays/dev)
environment           = "dev"
region                = "eu-west-1"
eks_oidc_provider_arn = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEDEV"
eks_oidc_issuer       = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEDEV"
log_retention_days    = 30
