# Where tgsync's change events go, as deploy/example-change-events.yaml makes it for
# CloudFormation: an event bus for them, a rule that matches tgsync's events and nothing
# else, an SNS topic that gets each event as it is (e-mail, SQS, a Lambda function...),
# and optionally a Slack channel through AWS Chatbot (Amazon Q Developer in chat
# applications), each event written as a line for a person; and the tgsync module, given
# the bus as event_bus.
#
#   make package                     # dist/tgsync-lambda-arm64.zip
#   cd deploy/terraform/examples/change-events
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

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  slack = var.slack_team_id != null && var.slack_channel_id != null
  # tgsync's events, and only they (docs: Change events, for the detail's fields). One
  # more key picks actions, e.g. detail = { action = ["DEREGISTER", "REFUSED"] }.
  pattern = merge({ source = ["tgsync"], detail-type = ["tgsync Target Change"] },
  var.dry_runs ? {} : { detail = { dry_run = [false] } })
  topics = merge({ changes = aws_sns_topic.changes.arn }, local.slack ? { chat = aws_sns_topic.chat[0].arn } : {})
}

resource "aws_cloudwatch_event_bus" "changes" {
  name = var.bus_name
}

resource "aws_cloudwatch_event_rule" "changes" {
  name_prefix    = "tgsync-changes-"
  description    = "tgsync's change events to the topic (and to Slack)"
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  event_pattern  = jsonencode(local.pattern)
}

resource "aws_cloudwatch_event_target" "topic" {
  rule           = aws_cloudwatch_event_rule.changes.name
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  target_id      = "Topic"
  arn            = aws_sns_topic.changes.arn
}

# AWS Chatbot shows an event from an application only in its custom notification form
# (version 1.0, source custom). A heredoc: jsonencode would escape the placeholders'
# angle brackets.
resource "aws_cloudwatch_event_target" "slack" {
  count          = local.slack ? 1 : 0
  rule           = aws_cloudwatch_event_rule.changes.name
  event_bus_name = aws_cloudwatch_event_bus.changes.name
  target_id      = "Slack"
  arn            = aws_sns_topic.chat[0].arn

  input_transformer {
    input_paths = {
      action   = "$.detail.action"
      ip       = "$.detail.ip"
      port     = "$.detail.port"
      group    = "$.detail.target_group"
      hostname = "$.detail.hostname"
      reason   = "$.detail.reason"
      dry      = "$.detail.dry_run"
    }
    input_template = <<-EOT
      {"version": "1.0", "source": "custom", "content": {"textType": "client-markdown",
      "title": "tgsync: <action> <ip>:<port> in <group>",
      "description": "<hostname>: <reason> (dry run: <dry>)"}}
    EOT
  }
}

# EventBridge cannot publish to a topic under the AWS-managed alias/aws/sns key: a key of
# this example's, which EventBridge may use for this bus's rules only.
resource "aws_kms_key" "topics" {
  description         = "Encrypts the tgsync change topics; EventBridge may use it"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "EventBridgePublishesThisBusRules"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:events:${var.region}:${data.aws_caller_identity.current.account_id}:rule/${var.bus_name}/*" }
        }
      },
    ]
  })
}

resource "aws_sns_topic" "changes" {
  name_prefix       = "tgsync-changes-"
  display_name      = "tgsync changes"
  kms_master_key_id = aws_kms_key.topics.arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.email != null ? 1 : 0
  topic_arn = aws_sns_topic.changes.arn
  protocol  = "email"
  endpoint  = var.email
}

resource "aws_sns_topic" "chat" {
  count             = local.slack ? 1 : 0
  name_prefix       = "tgsync-changes-slack-"
  display_name      = "tgsync changes, for Slack"
  kms_master_key_id = aws_kms_key.topics.arn
}

# Only the rule publishes (EventBridge's confused-deputy condition: its ARN).
resource "aws_sns_topic_policy" "topics" {
  for_each = local.topics
  arn      = each.value
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TheRulePublishes"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = each.value
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.changes.arn } }
    }]
  })
}

# The channel only receives: its role holds no permission, and its guardrail
# (AWSDenyAll) lets nobody in the channel run a command through it.
resource "aws_iam_role" "chatbot" {
  count       = local.slack ? 1 : 0
  name_prefix = "tgsync-chatbot-"
  description = "AWS Chatbot's role for tgsync's channel; receives only"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "chatbot.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

# AWS Chatbot's API answers in a few regions only (chatbot_region); the channel takes
# topics of any region.
resource "aws_chatbot_slack_channel_configuration" "slack" {
  count                       = local.slack ? 1 : 0
  region                      = var.chatbot_region
  configuration_name          = "tgsync-${replace(var.bus_name, "/[^A-Za-z0-9_-]/", "-")}"
  iam_role_arn                = aws_iam_role.chatbot[0].arn
  slack_team_id               = var.slack_team_id
  slack_channel_id            = var.slack_channel_id
  sns_topic_arns              = [aws_sns_topic.chat[0].arn]
  guardrail_policy_arns       = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSDenyAll"]
  user_authorization_required = false
  logging_level               = "ERROR"
}

module "tgsync" {
  source = "../.."

  hostname               = var.hostname
  target_group_arn       = var.target_group_arn
  subnet_ids             = var.subnet_ids
  security_group_ids     = var.security_group_ids
  event_bus              = aws_cloudwatch_event_bus.changes.name
  create_events_endpoint = var.create_events_endpoint
  vpc_id                 = var.vpc_id
  filename               = var.filename
  source_code_hash       = filebase64sha256(var.filename)
  architecture           = var.architecture
  dry_run                = var.dry_run
}
