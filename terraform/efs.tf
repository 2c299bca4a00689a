# The shared embedding table's file system (knative/base/cluster/storage-class.yaml, efs-sc): EFS,
# because every predictor pod on every node mounts it at once (ReadWriteMany for the populate Job,
# read-only for the predictor). Encrypted with the data key, reachable on NFS from the cluster VPC
# only, one mount target per subnet (one per AZ the nodes run in). The EFS CSI driver (EKS add-on
# aws-efs-csi-driver, with its own IRSA role) provisions an access point per claim.

resource "aws_efs_file_system" "embeddings" {
  count            = var.vpc_id == null ? 0 : 1
  creation_token   = "${local.name}-embeddings"
  encrypted        = true
  kms_key_id       = aws_kms_key.data.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"
  tags             = { Name = "${local.name}-embeddings" }
}

resource "aws_security_group" "efs" {
  count       = var.vpc_id == null ? 0 : 1
  name        = "${local.name}-efs"
  description = "NFS from the cluster VPC to the embeddings file system"
  vpc_id      = var.vpc_id

  ingress {
    description = "NFS from the cluster VPC"
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.cluster[0].cidr_block]
  }
}

resource "aws_efs_mount_target" "embeddings" {
  for_each        = toset(var.vpc_id == null ? [] : var.efs_subnet_ids)
  file_system_id  = aws_efs_file_system.embeddings[0].id
  subnet_id       = each.value
  security_groups = [aws_security_group.efs[0].id]
}
