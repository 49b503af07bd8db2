# The module's own variables: what deploy/tgsync.yaml takes as the stack's parameters
# (network, code, schedule, logs, alarms, events), with the stack's defaults and allowed
# values. The function's settings are in settings.tf, generated from the settings table.

variable "name" {
  description = "Name of the function, and of its log group (/aws/lambda/NAME), schedule and dashboard; the prefix of its roles' names."
  type        = string
  default     = "tgsync"
  nullable    = false
  validation {
    # A role's name_prefix takes at most 38 characters: NAME-scheduler- must fit.
    condition     = can(regex("^[A-Za-z0-9_-]{1,27}$", var.name))
    error_message = "name: '${var.name}' cannot name the function; use 1 to 27 letters, digits, hyphens and underscores, e.g. tgsync"
  }
}

variable "subnet_ids" {
  description = "Private subnets for the function (and the interface endpoints, if created)."
  type        = list(string)
  nullable    = false
  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnet_ids: give one or more subnet IDs (subnet-...), the function's private subnets"
  }
}

variable "security_group_ids" {
  description = "Security groups of the function: outbound 443 to the elasticloadbalancing endpoint (and the rds endpoint with resolve = \"rds\", the sts endpoint with rds_role_arn), outbound 53 (UDP and TCP) to the resolver."
  type        = list(string)
  nullable    = false
  validation {
    condition     = length(var.security_group_ids) > 0 && alltrue([for id in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "security_group_ids: give one or more security group IDs (sg-...) for the function"
  }
}

variable "create_elb_endpoint" {
  description = "Create the elasticloadbalancing interface endpoint (private DNS on) with a security group that admits 443 from the function's first security group. Leave false if the VPC has one already."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_rds_endpoint" {
  description = "Create the rds interface endpoint (private DNS on), for resolve = \"rds\" from subnets without a route to the RDS API, with a security group that admits 443 from the function's first security group. Leave false if the VPC has one already."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_sts_endpoint" {
  description = "Create the sts interface endpoint (private DNS on), for rds_role_arn from subnets without a route to STS, with a security group that admits 443 from the function's first security group and a policy that allows only assuming the rds_role_arn roles (the module's and the mappings'). Leave false if the VPC has one already (a second one with private DNS cannot be made)."
  type        = bool
  default     = false
  nullable    = false
}

variable "vpc_id" {
  description = "The VPC of subnet_ids; needed only when create_elb_endpoint, create_rds_endpoint or create_sts_endpoint is true."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = can(regex("^(vpc-[0-9a-f]+)?$", var.vpc_id))
    error_message = "vpc_id: '${var.vpc_id}' is not a VPC ID; give vpc-... (the VPC of subnet_ids)"
  }
}

variable "s3_bucket" {
  description = "S3 bucket holding the function zip (make package builds it; upload it with its checksum). With s3_key; instead of filename."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the function zip."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "S3 object version of the function zip, on a versioned bucket: the function runs exactly the object uploaded."
  type        = string
  default     = null
}

variable "code_signing_config_arn" {
  description = "Optional Lambda code signing configuration: Lambda then checks, at every deployment, that the zip was signed (AWS Signer) by a profile it trusts, and refuses or warns as its policy says. Deploy the signed object (s3_bucket, s3_key and s3_object_version of AWS Signer's output). Null: off."
  type        = string
  default     = null
  validation {
    condition     = var.code_signing_config_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:code-signing-config:csc-[a-z0-9]{17}$", var.code_signing_config_arn))
    error_message = "code_signing_config_arn: '${coalesce(var.code_signing_config_arn, "null")}' is not a code signing configuration's ARN; give arn:aws:lambda:REGION:ACCOUNT:code-signing-config:csc-... (or null: off)"
  }
}

variable "filename" {
  description = "Instead of s3_bucket and s3_key: the function zip on this machine (dist/tgsync-lambda-arm64.zip after make package)."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "With filename: the zip's SHA-256 in base64 (filebase64sha256(filename)), so that a new zip updates the function."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Architecture of the function; build the zip for the same one (make package ARCH=...)."
  type        = string
  default     = "arm64"
  nullable    = false
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: '${var.architecture}' is not one of: arm64, x86_64"
  }
}

variable "memory_size" {
  description = "Function memory in MB (peak use is under 64 MB; more memory is more CPU)."
  type        = number
  default     = 256
  nullable    = false
  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 1024 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size: ${var.memory_size} is out of range; give a whole number of MB from 128 to 1024"
  }
}

variable "schedule_rate" {
  description = "EventBridge Scheduler expression; AWS advises re-resolving every minute. At most every 4 minutes: a missing-since record not confirmed for 5 minutes is not trusted, so a slower schedule would never retire a healthy stale IP."
  type        = string
  default     = "rate(1 minute)"
  nullable    = false
  validation {
    condition     = contains(["rate(1 minute)", "rate(2 minutes)", "rate(3 minutes)", "rate(4 minutes)"], var.schedule_rate)
    error_message = "schedule_rate: '${var.schedule_rate}' is not one of: rate(1 minute), rate(2 minutes), rate(3 minutes), rate(4 minutes); a slower schedule would never retire a healthy stale IP"
  }
}

variable "log_retention_days" {
  description = "Days to keep the function's logs."
  type        = number
  default     = 30
  nullable    = false
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: ${var.log_retention_days} is not a retention CloudWatch Logs offers; use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"
  }
}

variable "log_kms_key_arn" {
  description = "Optional KMS key ARN to encrypt the log group with a customer-managed key (its policy must let CloudWatch Logs of the region use it)."
  type        = string
  default     = null
}

variable "log_level" {
  description = "POWERTOOLS_LOG_LEVEL and the function's application log level."
  type        = string
  default     = "INFO"
  nullable    = false
  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR"], var.log_level)
    error_message = "log_level: '${var.log_level}' is not one of: DEBUG, INFO, WARN, ERROR"
  }
}

variable "alarm_email" {
  description = "Optional e-mail address: creates an SNS topic (under a customer-managed key CloudWatch may use) that the alarms notify. Confirm the subscription AWS mails."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "Optional existing SNS topic for alarm notifications."
  type        = string
  default     = null
}

variable "health_alarm_filter" {
  description = "Scope of the no-healthy-target alarms when more than one explicit target group is kept: a CloudWatch Metrics Insights condition (only =, != and AND), e.g. LoadBalancer = 'app/my-alb/0123456789abcdef'. Null: every target group of the region behind a load balancer. With one target_group_arn (no mappings, no discovery) the alarms watch that group and this is ignored."
  type        = string
  default     = null
}

variable "event_source_arns" {
  description = "OpenSearch domain, RDS DB cluster and RDS DB instance ARNs whose EventBridge events invoke the function at once (best effort; the schedule stays the backstop). Events only: the RDS reads cover every cluster of the account and region."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for arn in var.event_source_arns : can(regex("^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$|^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:(cluster|db):[A-Za-z][A-Za-z0-9-]{0,62}$", arn))])
    error_message = join("\n", [for i, arn in var.event_source_arns : "event_source_arns[${i}]='${arn}': not an OpenSearch domain, RDS DB cluster or RDS DB instance ARN; give arn:aws:es:REGION:ACCOUNT:domain/NAME, arn:aws:rds:REGION:ACCOUNT:cluster:NAME or arn:aws:rds:REGION:ACCOUNT:db:NAME (whole, no wildcards)" if !can(regex("^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$|^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:(cluster|db):[A-Za-z][A-Za-z0-9-]{0,62}$", arn))])
  }
}

variable "domain_arns" {
  description = "OpenSearch domain ARNs whose events invoke the function at once (kept as the stack's DomainArns; event_source_arns takes domains too)."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for arn in var.domain_arns : can(regex("^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$", arn))])
    error_message = join("\n", [for i, arn in var.domain_arns : "domain_arns[${i}]='${arn}': not an OpenSearch domain ARN; give arn:aws:es:REGION:ACCOUNT:domain/NAME (whole, no wildcards), or pass an RDS cluster or instance ARN in event_source_arns" if !can(regex("^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$", arn))])
  }
}

variable "tags" {
  description = "Tags for every resource the module creates that takes tags."
  type        = map(string)
  default     = {}
  nullable    = false
}
