# The S3 interface endpoint that trainer egress is pinned to (knative/base/cluster/network-policy.yaml):
# its ENIs live in dedicated subnets, so the NetworkPolicy can allow exactly those CIDRs.
# Private DNS makes the regional S3 name, and so every pre-signed URL, resolve to the ENIs.

data "aws_vpc" "cluster" {
  count = var.vpc_id == null ? 0 : 1
  id    = var.vpc_id
}

data "aws_subnet" "s3_endpoint" {
  for_each = toset(var.vpc_id == null ? [] : var.s3_endpoint_subnet_ids)
  id       = each.value
}

resource "aws_security_group" "s3_endpoint" {
  count       = var.vpc_id == null ? 0 : 1
  name        = "${local.name}-s3-endpoint"
  description = "HTTPS from the cluster VPC to the S3 interface endpoint"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTPS from the cluster VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.cluster[0].cidr_block]
  }
}

resource "aws_vpc_endpoint" "s3" {
  count               = var.vpc_id == null ? 0 : 1
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.s3_endpoint_subnet_ids
  security_group_ids  = [aws_security_group.s3_endpoint[0].id]
  private_dns_enabled = true
  dns_options {
    private_dns_only_for_inbound_resolver_endpoint = false # no gateway endpoint alongside
  }
}
