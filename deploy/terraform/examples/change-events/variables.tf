variable "region" {
  description = "The region of the VPC, the target group and the bus, e.g. eu-west-1."
  type        = string
}

variable "bus_name" {
  description = "The event bus to create; the module's event_bus names it."
  type        = string
  default     = "tgsync-changes"
  validation {
    condition     = can(regex("^[/.\\-_A-Za-z0-9]{1,256}$", var.bus_name))
    error_message = "bus_name: use 1 to 256 letters, digits and / . - _, e.g. tgsync-changes"
  }
}

variable "dry_runs" {
  description = "true: a dry run's events too (what it would register and retire, \"dry_run\": true); false: only what tgsync did."
  type        = bool
  default     = false
}

variable "email" {
  description = "Optional e-mail address subscribed to the topic (confirm the e-mail AWS sends)."
  type        = string
  default     = null
}

variable "slack_team_id" {
  description = "The Slack workspace's ID (T0...), authorised once in the AWS Chatbot console (Configure new client, Slack). Null: no Slack channel."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "The channel's ID (C0...; in Slack, the channel's details). Invite @aws to it."
  type        = string
  default     = null
}

variable "chatbot_region" {
  description = "Where the Slack channel's configuration is made: AWS Chatbot's API answers in us-east-2, us-west-2, eu-west-1 and ap-southeast-1 only."
  type        = string
  default     = "us-east-2"
  validation {
    condition     = contains(["us-east-2", "us-west-2", "eu-west-1", "ap-southeast-1"], var.chatbot_region)
    error_message = "chatbot_region: AWS Chatbot's API answers in us-east-2, us-west-2, eu-west-1 and ap-southeast-1 only"
  }
}

variable "hostname" {
  description = "The name tgsync keeps the target group pointed at."
  type        = string
}

variable "target_group_arn" {
  description = "The ip target group tgsync keeps."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the tgsync function (and the events endpoint)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "The function's security groups: outbound 443 to the elasticloadbalancing and events endpoints, 53 to the VPC resolver."
  type        = list(string)
}

variable "create_events_endpoint" {
  description = "Create the events interface endpoint, which admits only putting events on the bus (false if the subnets reach EventBridge otherwise, or the VPC has one)."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "The VPC of subnet_ids, for the events endpoint."
  type        = string
  default     = ""
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

variable "dry_run" {
  description = "true: tgsync changes nothing and tells what it would do (with dry_runs, as events too)."
  type        = bool
  default     = false
}
