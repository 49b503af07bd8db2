# The interface endpoints the module may create (create_elb_endpoint,
# create_rds_endpoint, create_sts_endpoint): private DNS on, a security group that
# admits HTTPS from the function's first security group only, and the policy of
# derived.tf (this account's principals on this account's resources; through sts only
# assuming the RDS roles), so that credentials of another account cannot use the
# endpoint, e.g. to carry data out in tags of a foreign group.

resource "aws_security_group" "endpoint" {
  for_each    = local.endpoints
  name_prefix = "${var.name}-${each.key}-endpoint-"
  description = "${each.key} endpoint, HTTPS from the tgsync function only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description     = "HTTPS from the tgsync function"
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    security_groups = [var.security_group_ids[0]]
  }

  egress {
    description = "no egress needed; an interface endpoint only answers"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["127.0.0.1/32"]
  }
}

resource "aws_vpc_endpoint" "endpoint" {
  for_each            = local.endpoints
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  vpc_id              = var.vpc_id
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoint[each.key].id]
  tags                = var.tags
  policy              = jsonencode(local.endpoint_policies[each.key])
}
