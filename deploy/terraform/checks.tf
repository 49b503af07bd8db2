# The inputs that must go together, as deploy/tgsync.yaml's Rules say: checked when
# Terraform plans, before anything is created.

resource "terraform_data" "inputs" {
  lifecycle {
    precondition {
      condition     = !local.has_mappings || ((var.hostname == null || var.hostname == "") && !local.has_single)
      error_message = "Set hostname and target_group_arn, or mappings; not both (every mapping goes in mappings then)."
    }
    precondition {
      condition     = local.has_mappings || local.discover_on || (var.hostname != null && var.hostname != "" && local.has_single)
      error_message = "Set hostname and target_group_arn, or mappings, or discover = true to keep the groups tagged tgsync:hostname."
    }
    precondition {
      condition     = local.discover_on || (!local.has_owner && var.discover_prefix == "")
      error_message = "owner and discover_prefix apply to discovery only; set discover = true or drop them."
    }
    precondition {
      condition     = (var.filename != null) != (var.s3_bucket != null || var.s3_key != null) && (var.filename != null || (var.s3_bucket != null && var.s3_key != null))
      error_message = "Set s3_bucket and s3_key (and s3_object_version on a versioned bucket), or filename (and source_code_hash); not both."
    }
    precondition {
      condition     = !(var.create_elb_endpoint || var.create_rds_endpoint) || var.vpc_id != ""
      error_message = "create_elb_endpoint and create_rds_endpoint need vpc_id (the VPC of subnet_ids)."
    }
    precondition {
      condition     = var.alarm_email == null || var.alarm_topic_arn == null
      error_message = "Set alarm_email (a new topic) or alarm_topic_arn (yours); not both."
    }
  }
}
