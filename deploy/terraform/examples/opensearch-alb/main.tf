# The original's picture, as deploy/example-opensearch-alb.yaml draws it for
# CloudFormation: an internal HTTPS Application Load Balancer whose ip target group
# fronts an existing Amazon OpenSearch Service VPC domain (OpenSearch Dashboards behind
# fine-grained access control), kept pointed at the domain's IPs by the tgsync module.
#
#   make package                     # dist/tgsync-lambda-arm64.zip
#   cd deploy/terraform/examples/opensearch-alb
#   cp terraform.tfvars.example terraform.tfvars && $EDITOR terraform.tfvars
#   terraform init && terraform apply

terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

resource "aws_security_group" "alb" {
  name_prefix = "opensearch-alb-"
  description = "internal ALB for OpenSearch Dashboards"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTPS from the clients"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.client_cidr]
  }

  egress {
    description     = "HTTPS to the OpenSearch domain's nodes"
    protocol        = "tcp"
    from_port       = 443
    to_port         = 443
    security_groups = [var.domain_security_group_id]
  }
}

resource "aws_vpc_security_group_ingress_rule" "domain_from_alb" {
  security_group_id            = var.domain_security_group_id
  description                  = "HTTPS from the internal ALB (requests and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_security_group" "function" {
  name_prefix = "tgsync-"
  description = "tgsync function, out to the ELB endpoint and the VPC resolver only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to the elasticloadbalancing interface endpoint"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "DNS to the VPC resolver"
    protocol    = "udp"
    from_port   = 53
    to_port     = 53
    cidr_blocks = [var.vpc_cidr]
  }

  egress {
    description = "DNS over TCP (truncated answers) to the VPC resolver"
    protocol    = "tcp"
    from_port   = 53
    to_port     = 53
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_lb" "dashboards" {
  #checkov:skip=CKV_AWS_91:Access logs need a bucket policy for the ELB account; add one in production.
  #checkov:skip=CKV_AWS_150:An example must be removable; turn deletion protection on in production.
  name_prefix                = "osalb-"
  load_balancer_type         = "application"
  internal                   = true
  subnets                    = var.alb_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  idle_timeout               = 60
}

resource "aws_lb_target_group" "domain" {
  name_prefix          = "os-"
  target_type          = "ip"
  protocol             = "HTTPS"
  port                 = 443
  vpc_id               = var.vpc_id
  ip_address_type      = "ipv4"
  deregistration_delay = 30

  # With fine-grained access control an anonymous request gets 401: the node is up, so
  # 401 counts as healthy. Thresholds are set explicitly (defaults differ between
  # sources).
  health_check {
    protocol            = "HTTPS"
    path                = "/_dashboards/api/status"
    matcher             = "200-401"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  stickiness {
    enabled = true
    type    = "lb_cookie"
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.dashboards.arn
  protocol          = "HTTPS"
  port              = 443
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.domain.arn
  }
}

resource "aws_lb_listener_rule" "dashboards_redirect" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/"]
    }
  }

  action {
    type = "redirect"
    redirect {
      path        = "/_dashboards/"
      status_code = "HTTP_302"
    }
  }
}

module "tgsync" {
  source = "../.."

  hostname            = var.domain_endpoint
  target_group_arn    = aws_lb_target_group.domain.arn
  alb_id              = aws_lb.dashboards.arn
  domain_arns         = var.domain_arn == null ? [] : [var.domain_arn]
  subnet_ids          = var.function_subnet_ids
  security_group_ids  = [aws_security_group.function.id]
  create_elb_endpoint = var.create_elb_endpoint
  vpc_id              = var.vpc_id
  filename            = var.filename
  source_code_hash    = filebase64sha256(var.filename)
  architecture        = var.architecture
  alarm_email         = var.alarm_email
  outside_vpc         = var.outside_vpc
}
