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
      condition     = !(var.create_elb_endpoint || var.create_rds_endpoint || var.create_sts_endpoint) || var.vpc_id != ""
      error_message = "create_elb_endpoint, create_rds_endpoint and create_sts_endpoint need vpc_id (the VPC of subnet_ids)."
    }
    precondition {
      condition     = !var.create_sts_endpoint || length(local.rds_roles) > 0
      error_message = "create_sts_endpoint serves assuming the rds_role_arn roles only; set rds_role_arn (the module's or a mapping's), or leave create_sts_endpoint false."
    }
    precondition {
      # As the function refuses such a mapping: the role would be assumed for nothing.
      condition     = alltrue([for m in var.mappings : m.rds_role_arn == null || coalesce(m.resolve, var.resolve) == "rds"])
      error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].rds_role_arn: applies to resolve=rds only (the RDS reads); set resolve = \"rds\" (the mapping's or the module's) or drop rds_role_arn" if !(m.rds_role_arn == null || coalesce(m.resolve, var.resolve) == "rds")])
    }
    precondition {
      # The stack's CodeVersionOfTheRegion: per-region is what a StackSet gives an
      # account that joined after make stackset ran, never an S3 version.
      condition     = var.s3_object_version != "per-region"
      error_message = "s3_object_version: per-region is a StackSet's placeholder, not an S3 object version; give the version the zip's upload returned (aws_s3_object's version_id)."
    }
    precondition {
      condition     = var.alarm_email == null || var.alarm_topic_arn == null
      error_message = "Set alarm_email (a new topic) or alarm_topic_arn (yours); not both."
    }
  }
}
