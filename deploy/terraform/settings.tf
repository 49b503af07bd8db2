# Generated from src/tgsync/settings.py by deploy/terraform_gen.py (make terraform-vars):
# do not edit. Every setting of the function that the CDK construct takes, by its
# keyword name, with the settings table's default and bounds; each validation message
# is the function's own for that value.

variable "hostname" {
  description = "Name to resolve (TGSYNC_HOSTNAME; stack parameter Hostname)."
  type        = string
  default     = null
  validation {
    condition     = var.hostname == null || var.hostname == "" || try(trimspace(var.hostname) != "", false)
    error_message = var.hostname == null ? "" : "hostname: is empty; set it to a hostname such as vpc-logs-abc123.eu-west-1.es.amazonaws.com"
  }
}

variable "target_group_arn" {
  description = "ARN of the ip target group to keep (TGSYNC_TARGET_GROUP_ARN; stack parameter TargetGroupArn)."
  type        = string
  default     = null
  validation {
    condition     = var.target_group_arn == null || var.target_group_arn == "" || try(can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$", var.target_group_arn)), false)
    error_message = var.target_group_arn == null ? "" : "target_group_arn: '${var.target_group_arn}' is not a whole target group ARN; give arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID (no wildcards)"
  }
}

variable "port" {
  description = "Port to register targets on (default: the target group's own) (TGSYNC_PORT; stack parameter Port)."
  type        = number
  default     = null
  validation {
    condition     = var.port == null || try(floor(var.port) == var.port, false)
    error_message = var.port == null ? "" : "port: ${var.port} is not a whole number; give one from 1 to 65535"
  }
  validation {
    condition     = var.port == null || try(var.port >= 1 && var.port <= 65535, false)
    error_message = var.port == null ? "" : "port: ${var.port} is out of range; give a whole number from 1 to 65535"
  }
}

variable "alb_id" {
  description = "Load balancer ARN or name; a warning when the group is not attached to it (TGSYNC_ALB_ID; stack parameter AlbId)."
  type        = string
  default     = null
}

variable "mappings" {
  description = "Many target groups from one function (TGSYNC_MAPPINGS; stack parameter Mappings): each entry's hostname and target_group_arn, and optionally its own settings, unset ones taking the variables'. Instead of hostname and target_group_arn."
  type = list(object({
    hostname         = string
    target_group_arn = string
    port             = optional(number)
    alb_id           = optional(string)
    dns_servers      = optional(list(string))
    lookups          = optional(number)
    stale_after      = optional(number)
    allowed_cidrs    = optional(list(string))
    policy           = optional(string)
    resolve          = optional(string)
    rds_role_arn     = optional(string)
    retire           = optional(string)
  }))
  default  = []
  nullable = false
  validation {
    condition     = alltrue([for m in var.mappings : trimspace(m.hostname) != ""])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].hostname: is empty; set it to a hostname such as vpc-logs-abc123.eu-west-1.es.amazonaws.com" if !(trimspace(m.hostname) != "")])
  }
  validation {
    condition     = alltrue([for m in var.mappings : can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$", m.target_group_arn))])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].target_group_arn: '${m.target_group_arn}' is not a whole target group ARN; give arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID (no wildcards)" if !(can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$", m.target_group_arn)))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.port == null || try(floor(m.port) == m.port, false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].port: ${m.port} is not a whole number; give one from 1 to 65535" if !(m.port == null || try(floor(m.port) == m.port, false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.port == null || try(m.port >= 1 && m.port <= 65535, false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].port: ${m.port} is out of range; give a whole number from 1 to 65535" if !(m.port == null || try(m.port >= 1 && m.port <= 65535, false))])
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.dns_servers, []) : !startswith(e, "[") || can(regex("^\\[[^\\]]*\\](:.*)?$", e))]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.dns_servers, []) : "mappings[${i}].dns_servers: '${e}' is not host:port; write [addr]:port for IPv6" if !(!startswith(e, "[") || can(regex("^\\[[^\\]]*\\](:.*)?$", e)))]]))
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.dns_servers, []) : !can(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) || can(regex("^[0-9]+$", regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]))]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.dns_servers, []) : "mappings[${i}].dns_servers: '${regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]}' is not a whole number; give one from 1 to 65535" if !(!can(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) || can(regex("^[0-9]+$", regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])))]]))
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.dns_servers, []) : !can(tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])) || (tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) >= 1 && tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) <= 65535)]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.dns_servers, []) : "mappings[${i}].dns_servers: ${regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]} is out of range; give a whole number from 1 to 65535" if !(!can(tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])) || (tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) >= 1 && tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) <= 65535))]]))
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.dns_servers, []) : can(cidrhost("${replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3")}/${strcontains(replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3"), ":") ? 128 : 32}", 0))]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.dns_servers, []) : "mappings[${i}].dns_servers: '${e}': nameserver must be an IP address (optionally with :port, IPv6 as [addr]:port), e.g. 10.0.0.2 or 127.0.0.1:5353" if !(can(cidrhost("${replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3")}/${strcontains(replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3"), ":") ? 128 : 32}", 0)))]]))
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.lookups == null || try(floor(m.lookups) == m.lookups, false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].lookups: ${m.lookups} is not a whole number; give one from 1 to 10" if !(m.lookups == null || try(floor(m.lookups) == m.lookups, false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.lookups == null || try(m.lookups >= 1 && m.lookups <= 10, false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].lookups: ${m.lookups} is out of range; give a whole number from 1 to 10" if !(m.lookups == null || try(m.lookups >= 1 && m.lookups <= 10, false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.stale_after == null || try(m.stale_after >= 0 && m.stale_after <= 604800, false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].stale_after: ${m.stale_after} is out of range; give seconds from 0 to 604800" if !(m.stale_after == null || try(m.stale_after >= 0 && m.stale_after <= 604800, false))])
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.allowed_cidrs, []) : can(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0))]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.allowed_cidrs, []) : "mappings[${i}].allowed_cidrs: '${e}' is not a network; write a network such as 10.0.0.0/8 or fd00::/8" if !(can(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0)))]]))
  }
  validation {
    condition     = alltrue(flatten([for m in var.mappings : [for e in coalesce(m.allowed_cidrs, []) : try(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0) == (strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}"), true)]]))
    error_message = join("\n", flatten([for i, m in var.mappings : [for e in coalesce(m.allowed_cidrs, []) : "mappings[${i}].allowed_cidrs: '${e}' is not a network; did you mean ${cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0)}?" if !(try(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0) == (strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}"), true))]]))
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.policy == null || try(contains(["sync", "upsert-only"], lower(trimspace(m.policy))), false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].policy: '${m.policy}' is not a policy; use one of: sync, upsert-only" if !(m.policy == null || try(contains(["sync", "upsert-only"], lower(trimspace(m.policy))), false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.resolve == null || try(contains(["dns", "rds"], m.resolve), false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].resolve: '${m.resolve}' is not one of: dns, rds (exactly, in lower case)" if !(m.resolve == null || try(contains(["dns", "rds"], m.resolve), false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.rds_role_arn == null || try(can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", trimspace(m.rds_role_arn))), false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].rds_role_arn: '${m.rds_role_arn}' is not an IAM role ARN; give the whole ARN of the role to assume, e.g. arn:aws:iam::111122223333:role/tgsync-rds-read (no wildcards, no user or assumed-role ARN)" if !(m.rds_role_arn == null || try(can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", trimspace(m.rds_role_arn))), false))])
  }
  validation {
    condition     = alltrue([for m in var.mappings : m.retire == null || try(contains(["all", "owned"], lower(trimspace(m.retire))), false)])
    error_message = join("\n", [for i, m in var.mappings : "mappings[${i}].retire: '${m.retire}' is not one of: all, owned" if !(m.retire == null || try(contains(["all", "owned"], lower(trimspace(m.retire))), false))])
  }
}

variable "dns_servers" {
  description = "Comma-separated host[:port], IPv6 as [addr]:port (default: the system resolver) (TGSYNC_DNS_SERVERS; stack parameter DnsServers)."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for e in var.dns_servers : !startswith(e, "[") || can(regex("^\\[[^\\]]*\\](:.*)?$", e))])
    error_message = join("\n", [for e in var.dns_servers : "dns_servers: '${e}' is not host:port; write [addr]:port for IPv6" if !(!startswith(e, "[") || can(regex("^\\[[^\\]]*\\](:.*)?$", e)))])
  }
  validation {
    condition     = alltrue([for e in var.dns_servers : !can(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) || can(regex("^[0-9]+$", regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]))])
    error_message = join("\n", [for e in var.dns_servers : "dns_servers: '${regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]}' is not a whole number; give one from 1 to 65535" if !(!can(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) || can(regex("^[0-9]+$", regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])))])
  }
  validation {
    condition     = alltrue([for e in var.dns_servers : !can(tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])) || (tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) >= 1 && tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) <= 65535)])
    error_message = join("\n", [for e in var.dns_servers : "dns_servers: ${regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]} is out of range; give a whole number from 1 to 65535" if !(!can(tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0])) || (tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) >= 1 && tonumber(regex("^(?:\\[[^\\]]*\\]|[^:\\[]*):([^:]*)$", e)[0]) <= 65535))])
  }
  validation {
    condition     = alltrue([for e in var.dns_servers : can(cidrhost("${replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3")}/${strcontains(replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3"), ":") ? 128 : 32}", 0))])
    error_message = join("\n", [for e in var.dns_servers : "dns_servers: '${e}': nameserver must be an IP address (optionally with :port, IPv6 as [addr]:port), e.g. 10.0.0.2 or 127.0.0.1:5353" if !(can(cidrhost("${replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3")}/${strcontains(replace(e, "/^\\[([^\\]]*)\\](:.*)?$|^([^:\\[]*):[^:]*$/", "$1$3"), ":") ? 128 : 32}", 0)))])
  }
}

variable "lookups" {
  description = "DNS queries per cycle whose answers are united (stops early once an answer repeats) (TGSYNC_LOOKUPS; stack parameter Lookups)."
  type        = number
  default     = 3
  nullable    = false
  validation {
    condition     = floor(var.lookups) == var.lookups
    error_message = "lookups: ${var.lookups} is not a whole number; give one from 1 to 10"
  }
  validation {
    condition     = var.lookups >= 1 && var.lookups <= 10
    error_message = "lookups: ${var.lookups} is out of range; give a whole number from 1 to 10"
  }
}

variable "stale_after" {
  description = "Seconds an IP must be missing from DNS before a still-healthy target is retired (TGSYNC_STALE_AFTER; stack parameter StaleAfter)."
  type        = number
  default     = 180
  nullable    = false
  validation {
    condition     = var.stale_after >= 0 && var.stale_after <= 604800
    error_message = "stale_after: ${var.stale_after} is out of range; give seconds from 0 to 604800"
  }
}

variable "allowed_cidrs" {
  description = "Networks DNS answers must fall in (a tag may only narrow them: an answer must pass both) (TGSYNC_ALLOWED_CIDRS; stack parameter AllowedCidrs)."
  type        = list(string)
  default     = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
  nullable    = false
  validation {
    condition     = length(var.allowed_cidrs) > 0
    error_message = "allowed_cidrs: lists no network; unset it for the default private ranges"
  }
  validation {
    condition     = alltrue([for e in var.allowed_cidrs : can(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0))])
    error_message = join("\n", [for e in var.allowed_cidrs : "allowed_cidrs: '${e}' is not a network; write a network such as 10.0.0.0/8 or fd00::/8" if !(can(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0)))])
  }
  validation {
    condition     = alltrue([for e in var.allowed_cidrs : try(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0) == (strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}"), true)])
    error_message = join("\n", [for e in var.allowed_cidrs : "allowed_cidrs: '${e}' is not a network; did you mean ${cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0)}?" if !(try(cidrsubnet(strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}", 0, 0) == (strcontains(e, "/") ? e : "${e}/${strcontains(e, ":") ? 128 : 32}"), true))])
  }
}

variable "policy" {
  description = "Sync, or upsert-only to register and never retire (TGSYNC_POLICY; stack parameter Policy)."
  type        = string
  default     = "sync"
  nullable    = false
  validation {
    condition     = contains(["sync", "upsert-only"], lower(trimspace(var.policy)))
    error_message = "policy: '${var.policy}' is not a policy; use one of: sync, upsert-only"
  }
}

variable "resolve" {
  description = "Dns: the hostname's DNS answers; rds: an Aurora or Multi-AZ DB cluster endpoint's members from the RDS API (each member's instance endpoint resolved through DNS) (TGSYNC_RESOLVE; stack parameter Resolve)."
  type        = string
  default     = "dns"
  nullable    = false
  validation {
    condition     = contains(["dns", "rds"], var.resolve)
    error_message = "resolve: '${var.resolve}' is not one of: dns, rds (exactly, in lower case)"
  }
}

variable "rds_role_arn" {
  description = "With resolve=rds: an IAM role to assume for the RDS reads, for a cluster in another account (no tag sets it: a tag would let whoever may tag a target group choose the role tgsync acts as, and so whose database the group points at) (TGSYNC_RDS_ROLE_ARN; stack parameter RdsRoleArn)."
  type        = string
  default     = null
  validation {
    condition     = var.rds_role_arn == null || var.rds_role_arn == "" || try(can(regex("^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$", trimspace(var.rds_role_arn))), false)
    error_message = var.rds_role_arn == null ? "" : "rds_role_arn: '${var.rds_role_arn}' is not an IAM role ARN; give the whole ARN of the role to assume, e.g. arn:aws:iam::111122223333:role/tgsync-rds-read (no wildcards, no user or assumed-role ARN)"
  }
}

variable "retire" {
  description = "All: retire any target on the port the answer does not hold; owned: only targets tgsync registered (a shared group) (TGSYNC_RETIRE; stack parameter Retire)."
  type        = string
  default     = "all"
  nullable    = false
  validation {
    condition     = contains(["all", "owned"], lower(trimspace(var.retire)))
    error_message = "retire: '${var.retire}' is not one of: all, owned"
  }
}

variable "dry_run" {
  description = "Plan and report, change nothing (an event may turn it on, never off) (TGSYNC_DRY_RUN; stack parameter DryRun)."
  type        = bool
  default     = false
  nullable    = false
}

variable "concurrency" {
  description = "Target groups synced in parallel (TGSYNC_CONCURRENCY; stack parameter Concurrency)."
  type        = number
  default     = 4
  nullable    = false
  validation {
    condition     = floor(var.concurrency) == var.concurrency
    error_message = "concurrency: ${var.concurrency} is not a whole number; give one from 1 to 32"
  }
  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 32
    error_message = "concurrency: ${var.concurrency} is out of range; give a whole number from 1 to 32"
  }
}

variable "api_rate" {
  description = "ELB API calls per second at most (Describe calls and writes each) (TGSYNC_API_RATE; stack parameter ApiRate)."
  type        = number
  default     = 8
  nullable    = false
  validation {
    condition     = var.api_rate >= 1 && var.api_rate <= 100
    error_message = "api_rate: ${var.api_rate} is out of range; give calls per second from 1 to 100"
  }
}

variable "resync_every" {
  description = "Seconds after which a settled group is read again though nothing changed in DNS (0: every group every cycle) (TGSYNC_RESYNC_EVERY; stack parameter ResyncEvery)."
  type        = number
  default     = 300
  nullable    = false
  validation {
    condition     = var.resync_every >= 0 && var.resync_every <= 3600
    error_message = "resync_every: ${var.resync_every} is out of range; give seconds from 0 to 3600"
  }
}

variable "discover" {
  description = "Tags: also keep every ip target group of the region tagged tgsync:hostname (TGSYNC_DISCOVER; stack parameter Discover)."
  type        = bool
  default     = false
  nullable    = false
}

variable "owner" {
  description = "With discovery: manage only groups tagged tgsync:owner with this value (unset: only groups with no owner tag) (TGSYNC_OWNER; stack parameter Owner)."
  type        = string
  default     = null
  validation {
    condition     = var.owner == null || var.owner == "" || try(can(regex("^[\\w\\s+\\-=.:/@]{1,256}$", trimspace(var.owner))), false)
    error_message = var.owner == null ? "" : "owner: '${var.owner}' cannot be a tag value; use 1 to 256 letters, digits, spaces and + - = . _ : / @, e.g. team-search"
  }
}

variable "discover_prefix" {
  description = "With discovery (required): adopt only groups whose name starts with this, a scope no tag can change; * adopts any group that carries the tag, so that anyone who may tag a group can hand it over (TGSYNC_DISCOVER_PREFIX; stack parameter DiscoverPrefix)."
  type        = string
  default     = ""
  nullable    = false
  validation {
    condition     = var.discover_prefix == "" || try(can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", trimspace(var.discover_prefix))), false)
    error_message = var.discover_prefix == null ? "" : "discover_prefix: '${var.discover_prefix}' cannot start a target group name; use 1 to 32 letters, digits and hyphens, not starting with a hyphen, e.g. tgsync- (or * for every group)"
  }
}

variable "discover_every" {
  description = "Seconds between discovery reads (every cold start reads too) (TGSYNC_DISCOVER_EVERY; stack parameter DiscoverEvery)."
  type        = number
  default     = 300
  nullable    = false
  validation {
    condition     = var.discover_every >= 60 && var.discover_every <= 86400
    error_message = "discover_every: ${var.discover_every} is out of range; give seconds from 60 to 86400"
  }
}

variable "outside_vpc" {
  description = "Allow: register answers outside the group's VPC (peered or on-premises hosts) with zone all; refuse: report them (TGSYNC_OUTSIDE_VPC; stack parameter OutsideVpc)."
  type        = bool
  default     = false
  nullable    = false
}

variable "follow_interval" {
  description = "While a mapping moves, seconds between the follow-up cycles of one invocation (0: off) (TGSYNC_FOLLOW_INTERVAL; stack parameter FollowInterval)."
  type        = number
  default     = 10
  nullable    = false
  validation {
    condition     = var.follow_interval == 0 || (var.follow_interval >= 1 && var.follow_interval <= 60)
    error_message = "follow_interval: ${var.follow_interval} is out of range; give seconds from 1 to 60 (0 turns it off)"
  }
}

variable "follow_for" {
  description = "Seconds after a mapping's last change (or event) that it is followed while something stays pending (TGSYNC_FOLLOW_FOR; stack parameter FollowFor)."
  type        = number
  default     = 120
  nullable    = false
  validation {
    condition     = var.follow_for >= 0 && var.follow_for <= 3600
    error_message = "follow_for: ${var.follow_for} is out of range; give seconds from 0 to 3600"
  }
}

variable "record_key" {
  description = "A KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC) that signs tgsync's ownership records: a record without its valid MAC is never trusted (no tag sets it: the key is what tags cannot forge) (TGSYNC_RECORD_KEY; stack parameter RecordKey)."
  type        = string
  default     = null
}

variable "event_bus" {
  description = "An EventBridge event bus (name or ARN) that gets an event for every registration, retirement, refusal and foreign target seen (unset: no events; no tag sets it: a tag would let whoever may tag a target group choose where tgsync tells of your targets) (TGSYNC_EVENT_BUS; stack parameter ChangeEventBus)."
  type        = string
  default     = null
}

locals {
  # Each setting as the function reads it from its environment (empty: unset).
  setting_environment = {
    TGSYNC_PORT            = var.port == null ? "" : tostring(var.port)
    TGSYNC_ALB_ID          = var.alb_id == null ? "" : tostring(var.alb_id)
    TGSYNC_DNS_SERVERS     = join(",", var.dns_servers)
    TGSYNC_LOOKUPS         = tostring(var.lookups)
    TGSYNC_STALE_AFTER     = tostring(var.stale_after)
    TGSYNC_ALLOWED_CIDRS   = join(",", var.allowed_cidrs)
    TGSYNC_POLICY          = tostring(var.policy)
    TGSYNC_RESOLVE         = tostring(var.resolve)
    TGSYNC_RDS_ROLE_ARN    = var.rds_role_arn == null ? "" : tostring(var.rds_role_arn)
    TGSYNC_RETIRE          = tostring(var.retire)
    TGSYNC_DRY_RUN         = var.dry_run ? "true" : "false"
    TGSYNC_CONCURRENCY     = tostring(var.concurrency)
    TGSYNC_API_RATE        = tostring(var.api_rate)
    TGSYNC_RESYNC_EVERY    = tostring(var.resync_every)
    TGSYNC_DISCOVER        = var.discover ? "tags" : ""
    TGSYNC_OWNER           = var.owner == null ? "" : tostring(var.owner)
    TGSYNC_DISCOVER_PREFIX = tostring(var.discover_prefix)
    TGSYNC_DISCOVER_EVERY  = tostring(var.discover_every)
    TGSYNC_OUTSIDE_VPC     = var.outside_vpc ? "allow" : "refuse"
    TGSYNC_FOLLOW_INTERVAL = tostring(var.follow_interval)
    TGSYNC_FOLLOW_FOR      = tostring(var.follow_for)
    TGSYNC_RECORD_KEY      = var.record_key == null ? "" : tostring(var.record_key)
    TGSYNC_EVENT_BUS       = var.event_bus == null ? "" : tostring(var.event_bus)
  }
}
