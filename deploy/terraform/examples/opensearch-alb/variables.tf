variable "region" {
  description = "The region of the VPC and the domain, e.g. eu-west-1."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the OpenSearch domain."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's CIDR, e.g. 10.0.0.0/16: the function reaches the ELB endpoint and the VPC resolver in it."
  type        = string
}

variable "alb_subnet_ids" {
  description = "Two or more private subnets, in different AZs, for the internal ALB."
  type        = list(string)
}

variable "function_subnet_ids" {
  description = "Private subnets for the tgsync function (may be the ALB's)."
  type        = list(string)
}

variable "domain_endpoint" {
  description = "The domain's VPC endpoint, e.g. vpc-logs-abc123.eu-west-1.es.amazonaws.com."
  type        = string
  validation {
    condition     = can(regex("^(https://)?vpc-[a-z0-9-]+\\.[a-z0-9-]+\\.es\\.amazonaws\\.com/?$", var.domain_endpoint))
    error_message = "domain_endpoint: give the domain's VPC endpoint, e.g. vpc-logs-abc123.eu-west-1.es.amazonaws.com"
  }
}

variable "domain_arn" {
  description = "The domain's ARN: its events (software updates, blue/green) then invoke tgsync at once. Null: the one-minute schedule alone."
  type        = string
  default     = null
}

variable "domain_security_group_id" {
  description = "The domain's security group; the example lets the ALB in on 443."
  type        = string
}

variable "client_cidr" {
  description = "Who may reach the ALB, e.g. the corporate network over Direct Connect."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the ALB's HTTPS listener (a name your users resolve)."
  type        = string
}

variable "filename" {
  description = "The function zip that make package built."
  type        = string
  default     = "../../../../dist/tgsync-lambda-arm64.zip"
}

variable "architecture" {
  description = "The zip's architecture (make package ARCH=...)."
  type        = string
  default     = "arm64"
}

variable "create_elb_endpoint" {
  description = "Create the elasticloadbalancing interface endpoint (false if the VPC has one)."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Optional e-mail address for tgsync's alarms."
  type        = string
  default     = null
}

variable "outside_vpc" {
  description = "The domain's IPs are in the VPC: keep false. true registers answers outside the group's VPC with zone all."
  type        = bool
  default     = false
}
