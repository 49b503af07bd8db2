# The function, its role and its log group, and the schedule that runs it: what
# deploy/tgsync.yaml deploys, resource for resource (docs/terraform.md has the list).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; the logs hold IPs and ARNs, no secrets. log_kms_key_arn adds a customer-managed key when required.
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days, 30 days by default as the stack's); the logs are for troubleshooting, not for audit.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "function" {
  name_prefix = "${var.name}-"
  description = "tgsync function role, least privilege"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "elb" {
  name   = "tgsync-elb"
  role   = aws_iam_role.function.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.elb_statements })
}

resource "aws_iam_role_policy" "runtime" {
  name   = "tgsync-runtime"
  role   = aws_iam_role.function.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.runtime_statements })
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:No dead-letter queue: a missed one-minute tick has no value later; the next tick converges, and errors raise the Errors alarm.
  #checkov:skip=CKV_AWS_173:The environment holds configuration only (hostnames, ARNs), no secrets; the default AWS-managed key encrypts it at rest.
  function_name     = var.name
  description       = "Keeps an ELBv2 ip target group pointed at a hostname (tgsync)"
  role              = aws_iam_role.function.arn
  runtime           = "python3.13"
  architectures     = [var.architecture]
  handler           = "tgsync.lambda_handler.handler"
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  filename          = var.filename
  source_code_hash  = var.source_code_hash
  memory_size       = var.memory_size
  # Worst case per API call: 3 attempts x (2 s connect + 5 s read) plus backoff; DNS
  # gives up after 4 s; mappings that cannot finish are skipped with 10 s left.
  timeout                        = 55
  reserved_concurrent_executions = 1 # no overlapping runs
  # Lambda checks the zip's signature at every deployment (null: off).
  code_signing_config_arn = var.code_signing_config_arn

  tracing_config {
    mode = "PassThrough"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function.name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  environment {
    variables = local.environment
  }

  tags = var.tags

  # Lambda checks the role's network permissions when it creates the function.
  depends_on = [aws_iam_role_policy.runtime, terraform_data.inputs]
}

resource "aws_lambda_function_event_invoke_config" "function" {
  function_name = aws_lambda_function.function.function_name
  qualifier     = "$LATEST"
  # A tick that could not run within a minute is worthless: drop it, never retry.
  maximum_event_age_in_seconds = 60
  maximum_retry_attempts       = 0
}

resource "aws_iam_role" "scheduler" {
  name_prefix = "${var.name}-scheduler-"
  description = "lets EventBridge Scheduler invoke the tgsync function, and nothing else"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      # Scheduler's confused-deputy guidance: aws:SourceArn is the schedule *group*'s
      # ARN; this group holds this function's schedule alone.
      Condition = { StringEquals = {
        "aws:SourceAccount" = local.account_id
        "aws:SourceArn"     = local.schedule_group_arn
      } }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "invoke-tgsync"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "lambda:InvokeFunction", Resource = aws_lambda_function.function.arn }]
  })
}

resource "aws_scheduler_schedule_group" "this" {
  name = var.name
  tags = var.tags
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The schedule holds the function's ARN and a constant input ({"source": "tgsync.schedule"}), no secret; the AWS-owned key encrypts it at rest.
  name                = var.name
  group_name          = aws_scheduler_schedule_group.this.name
  description         = "runs tgsync (${var.name}) every minute"
  schedule_expression = var.schedule_rate
  state               = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.function.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "tgsync.schedule" })

    # The next tick is a retry; one that arrives late would only overlap it.
    retry_policy {
      maximum_retry_attempts       = 0
      maximum_event_age_in_seconds = 60
    }
  }
}
