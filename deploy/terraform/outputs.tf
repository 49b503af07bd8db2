output "function_name" {
  description = "The tgsync function."
  value       = aws_lambda_function.function.function_name
}

output "function_arn" {
  description = "The tgsync function's ARN."
  value       = aws_lambda_function.function.arn
}

output "role_name" {
  description = "The function's role: add a statement to it with aws_iam_role_policy."
  value       = aws_iam_role.function.name
}

output "role_arn" {
  description = "The function's role's ARN."
  value       = aws_iam_role.function.arn
}

output "log_group_name" {
  description = "Where tgsync logs (one JSON line per action) and its EMF metrics go."
  value       = aws_cloudwatch_log_group.function.name
}

output "dashboard_url" {
  description = "The CloudWatch dashboard of the function."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards:name=${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "elb_endpoint_security_group_id" {
  description = "The elasticloadbalancing endpoint's security group (create_elb_endpoint), for the function's egress rule; null without it."
  value       = try(aws_security_group.endpoint["elasticloadbalancing"].id, null)
}

output "rds_endpoint_security_group_id" {
  description = "The rds endpoint's security group (create_rds_endpoint), for the function's egress rule; null without it."
  value       = try(aws_security_group.endpoint["rds"].id, null)
}

output "sts_endpoint_security_group_id" {
  description = "The sts endpoint's security group (create_sts_endpoint), for the function's egress rule; null without it."
  value       = try(aws_security_group.endpoint["sts"].id, null)
}
