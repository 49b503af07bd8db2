# OpenSearch and RDS events invoke the function at once; it runs a cycle and follows the
# target groups of the domain, cluster or instance. Events are triggers (none says which
# IPs changed): the schedule stays the backstop. One rule per kind of event, made only
# for the sources given (event_source_arns, domain_arns).

locals {
  has_events = length(local.event_patterns) > 0
}

resource "aws_cloudwatch_event_rule" "events" {
  for_each      = local.event_patterns
  name_prefix   = "${var.name}-"
  description   = each.value.description
  state         = "ENABLED"
  event_pattern = jsonencode(each.value.pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "events" {
  for_each  = local.event_patterns
  rule      = aws_cloudwatch_event_rule.events[each.key].name
  target_id = "tgsync"
  arn       = aws_lambda_function.function.arn

  dead_letter_config {
    arn = aws_sqs_queue.event_dead_letters[0].arn
  }

  retry_policy {
    maximum_retry_attempts       = 3
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "events" {
  for_each       = local.event_patterns
  statement_id   = "tgsync-${each.key}"
  function_name  = aws_lambda_function.function.function_name
  action         = "lambda:InvokeFunction"
  principal      = "events.amazonaws.com"
  source_account = local.account_id
  source_arn     = aws_cloudwatch_event_rule.events[each.key].arn
}

# Events EventBridge could not deliver (the function deleted, the permission missing):
# kept 14 days to look at, and alarmed on.
resource "aws_sqs_queue" "event_dead_letters" {
  #checkov:skip=CKV_AWS_27:Encrypted at rest with SQS-managed keys (sqs_managed_sse_enabled). EventBridge cannot deliver to a queue under the AWS-managed KMS key, and the events hold no secrets (domain, cluster and instance ARNs and event names).
  count                     = local.has_events ? 1 : 0
  name_prefix               = "${var.name}-dlq-"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue_policy" "event_dead_letters" {
  count     = local.has_events ? 1 : 0
  queue_url = aws_sqs_queue.event_dead_letters[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "OnlyOurRulesDeadLetter"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.event_dead_letters[0].arn
        Condition = { ArnEquals = { "aws:SourceArn" = [for rule in aws_cloudwatch_event_rule.events : rule.arn] } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.event_dead_letters[0].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}
