# The alarms (errors, not running, failed lookups, no healthy target, event dead
# letters) and the dashboard, as deploy/tgsync.yaml's (docs/observability.md).

locals {
  alarm_actions = var.alarm_email != null ? [aws_sns_topic.alarms[0].arn] : (var.alarm_topic_arn != null ? [var.alarm_topic_arn] : [])
}

# CloudWatch cannot publish to a topic under the AWS-managed key alias/aws/sns (its
# policy cannot be changed): the topic gets a customer-managed key CloudWatch may use.
resource "aws_kms_key" "alarms" {
  count               = var.alarm_email != null ? 1 : 0
  description         = "Encrypts the ${var.name} alarm topic; CloudWatch may use it"
  enable_key_rotation = true
  policy              = jsonencode(local.alarm_key_policy) # derived.tf
  tags                = var.tags
}

resource "aws_sns_topic" "alarms" {
  count             = var.alarm_email != null ? 1 : 0
  name_prefix       = "${var.name}-alarms-"
  display_name      = "tgsync alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email != null ? 1 : 0
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "tgsync failed for 3 minutes in a row: a lookup failed, an AWS call was denied or failed, or a mapping is invalid. The function's logs say which and why; the target groups were left as they were."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.function.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "not_running" {
  alarm_name          = "${var.name}-not-running"
  alarm_description   = "tgsync has not run for 5 minutes (schedule disabled, throttled or deleted)."
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = aws_lambda_function.function.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "resolution_failures" {
  alarm_name          = "${var.name}-resolution-failures"
  alarm_description   = "The hostname could not be resolved for 3 minutes in a row (timeout, SERVFAIL, NXDOMAIN, or every answer refused). Nothing is changed while this lasts."
  namespace           = "tgsync"
  metric_name         = "ResolutionFailures"
  dimensions          = { service = "tgsync" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags
}

# ELB's own HealthyHostCount (every minute, free, no ELB call by tgsync), one
# contributor per group, for groups behind an ALB and behind an NLB.
resource "aws_cloudwatch_metric_alarm" "no_healthy_target" {
  for_each            = local.health_queries
  alarm_name          = "${var.name}-no-healthy-target-${each.key}"
  alarm_description   = "A target group behind ${each.key == "alb" ? "an Application" : "a Network"} Load Balancer has had no healthy target for 3 minutes (ELB's HealthyHostCount; the alarm names the group as a contributor). A load balancer with no healthy target fails open to all of them. Check the hostname's service, the health check and tgsync's logs."
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "healthy"
    return_data = true
    period      = 60
    expression  = each.value
  }
}

resource "aws_cloudwatch_metric_alarm" "event_dead_letters" {
  count               = local.has_events ? 1 : 0
  alarm_name          = "${var.name}-event-dead-letters"
  alarm_description   = "An OpenSearch or RDS event could not be delivered to tgsync (see the dead-letter queue); the schedule still converges within a minute."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.event_dead_letters[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name}-${local.region}"
  dashboard_body = jsonencode({
    widgets = [
      { type = "metric", x = 0, y = 0, width = 12, height = 6, properties = {
        title = "Targets wanted; registered and healthy in the groups read", region = local.region,
        stat  = "Average", period = 60, view = "timeSeries",
        metrics = [["tgsync", "Wanted", "service", "tgsync"], [".", "Registered", ".", "."],
          [".", "HealthyTargets", ".", "."],
        [".", "MinHealthyTargets", ".", ".", { stat = "Minimum", label = "MinHealthyTargets (from tgsync's reads)" }]]
      } },
      { type = "metric", x = 12, y = 0, width = 12, height = 6, properties = {
        title   = "Registrations and retirements", region = local.region, stat = "Sum", period = 60, view = "timeSeries",
        metrics = [["tgsync", "Registrations", "service", "tgsync"], [".", "Deregistrations", ".", "."]]
      } },
      { type = "metric", x = 0, y = 6, width = 12, height = 6, properties = {
        title = "Failures", region = local.region, stat = "Sum", period = 60, view = "timeSeries",
        metrics = [["tgsync", "ResolutionFailures", "service", "tgsync"], [".", "MappingFailures", ".", "."],
        [".", "RefusedAnswers", ".", "."], ["AWS/Lambda", "Errors", "FunctionName", var.name]]
      } },
      { type = "metric", x = 12, y = 6, width = 12, height = 6, properties = {
        title = "Function", region = local.region, period = 60, view = "timeSeries",
        metrics = [["AWS/Lambda", "Duration", "FunctionName", var.name, { stat = "p99" }],
        [".", "Invocations", ".", ".", { stat = "Sum" }], [".", "Throttles", ".", ".", { stat = "Sum" }]]
      } },
      { type = "metric", x = 0, y = 12, width = 24, height = 6, properties = {
        title   = "Healthy targets per group behind an ALB (ELB's HealthyHostCount, lowest first)",
        region  = local.region, period = 60, view = "timeSeries",
        metrics = [[{ id = "healthy", label = "", expression = local.health_queries["alb"] }]]
      } },
    ]
  })
}
