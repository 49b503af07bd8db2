output "dashboards_url" {
  description = "Point a DNS name covered by the certificate at the ALB, then open this path."
  value       = "https://${aws_lb.dashboards.dns_name}/_dashboards/"
}

output "load_balancer_dns_name" {
  value = aws_lb.dashboards.dns_name
}

output "target_group_arn" {
  value = aws_lb_target_group.domain.arn
}

output "sync_function" {
  value = module.tgsync.function_name
}

output "log_group_name" {
  value = module.tgsync.log_group_name
}
