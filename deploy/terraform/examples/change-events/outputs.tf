output "event_bus" {
  description = "The bus the module's event_bus names."
  value       = aws_cloudwatch_event_bus.changes.name
}

output "topic_arn" {
  description = "The topic every change event goes to, as it is: subscribe your queue or function."
  value       = aws_sns_topic.changes.arn
}

output "events_endpoint_security_group_id" {
  description = "The events endpoint's security group, for the function's egress rule (null without the endpoint)."
  value       = module.tgsync.events_endpoint_security_group_id
}

output "sync_function" {
  value = module.tgsync.function_name
}
