# What the module computes from its inputs alone, no resource and no provider: the
# role's statements, the function's environment, the event patterns and the alarms'
# query. Each mirrors deploy/tgsync.yaml (tests/deploy/test_terraform.py evaluates this
# file with Terraform and compares the results with the stack's for the same inputs).
# local.partition, local.region and local.account_id come from main.tf.

locals {
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  # The schedule group holds this function's schedule alone: the scheduler role trusts it.
  schedule_group_arn = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${var.name}"

  has_mappings   = length(var.mappings) > 0
  has_single     = var.target_group_arn != null && var.target_group_arn != ""
  kept_groups    = local.has_mappings ? distinct([for m in var.mappings : m.target_group_arn]) : (local.has_single ? [var.target_group_arn] : [])
  discover_on    = var.discover
  has_owner      = var.owner != null && var.owner != ""
  discover_scope = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}:targetgroup/${var.discover_prefix}*"
  # resolve=rds is possible: the function's own, a mapping's (exactly "rds", as the
  # function takes it), or a discovered group's tgsync:resolve tag.
  may_resolve_rds = var.resolve == "rds" || local.discover_on || anytrue([for m in var.mappings : m.resolve == "rds"])

  # The one list of the tag keys tgsync writes and removes on target groups: every
  # AddTags and RemoveTags statement allows these keys and no other.
  own_tag_keys = ["tgsync:missing:*", "tgsync:owned:*"]
  own_keys     = { "ForAllValues:StringLike" = { "aws:TagKeys" = local.own_tag_keys } }
  # Discovery writes only groups that carry tgsync:hostname and this function's owner
  # tag (or none, without an owner); removing tgsync's own tags needs only the owner.
  owned = local.has_owner ? { StringEquals = { "aws:ResourceTag/tgsync:owner" = var.owner } } : { Null = { "aws:ResourceTag/tgsync:owner" = "true" } }
  asks  = local.has_owner ? merge({ Null = { "aws:ResourceTag/tgsync:hostname" = "false" } }, local.owned) : { Null = { "aws:ResourceTag/tgsync:hostname" = "false", "aws:ResourceTag/tgsync:owner" = "true" } }

  rds_scope = "arn:${local.partition}:rds:${local.region}:${local.account_id}"
  # The roles tgsync may assume for the RDS reads (a cluster in another account): the
  # module's rds_role_arn and each mapping's, trimmed as the function reads them; never
  # a tag's. The CDK construct grants every role given too; the stack, which cannot
  # read its Mappings' JSON, grants RdsRoleArn alone. (coalesce: null and "" alike.)
  rds_roles = distinct(compact([for arn in concat([var.rds_role_arn], [for m in var.mappings : m.rds_role_arn]) : trimspace(coalesce(arn, " "))]))

  # The policy tgsync-elb: the provider's calls (tgsync.provider.elbv2.OPERATIONS) and
  # the RDS reads of resolve=rds, each on what it needs (docs/iam.md).
  elb_statements = concat(
    [{
      Sid    = "ObserveTargetGroups"
      Effect = "Allow"
      # These three support no resource-level permissions.
      Action   = ["elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"]
      Resource = ["*"]
    }],
    [for statement in [
      {
        Sid      = "ChangeOnlyTheKeptTargetGroups"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        Resource = local.kept_groups
      },
      {
        Sid       = "TagOnlyOwnKeysOnTheKeptTargetGroups"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
        Resource  = local.kept_groups
        Condition = local.own_keys
      },
    ] : statement if length(local.kept_groups) > 0],
    [for statement in [
      {
        Sid       = "ChangeOnlyGroupsThatAskForIt"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        Resource  = [local.discover_scope]
        Condition = local.asks
      },
      {
        Sid       = "WriteOnlyOwnMemoryTagsOnThoseGroups"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:AddTags"]
        Resource  = [local.discover_scope]
        Condition = merge(local.asks, local.own_keys)
      },
      {
        Sid       = "RemoveOnlyOwnMemoryTags"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:RemoveTags"]
        Resource  = [local.discover_scope]
        Condition = merge(local.owned, local.own_keys)
      },
    ] : statement if local.discover_on],
    # RDS authorizes a filtered DescribeDBInstances on db:* and a custom endpoint read
    # by name on cluster:*: every instance and cluster of this account and region.
    [for statement in [
      {
        Sid      = "ReadTheClusters"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBClusters"]
        Resource = ["${local.rds_scope}:cluster:*"]
      },
      {
        Sid      = "ReadMembersAndCustomEndpoints"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBInstances", "rds:DescribeDBClusterEndpoints"]
        Resource = ["${local.rds_scope}:db:*", "${local.rds_scope}:cluster:*", "${local.rds_scope}:cluster-endpoint:*"]
      },
    ] : statement if local.may_resolve_rds],
    # The roles' own policies, in their accounts, hold the rds:Describe* reads.
    [for statement in [
      {
        Sid      = "AssumeTheRdsReadRole"
        Effect   = "Allow"
        Action   = ["sts:AssumeRole"]
        Resource = local.rds_roles
      },
    ] : statement if length(local.rds_roles) > 0],
  )

  # The policy tgsync-runtime: what AWSLambdaVPCAccessExecutionRole grants, narrowed to
  # this function (docs/iam.md, "The runtime").
  runtime_statements = [
    {
      Sid      = "WriteOwnLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
    },
    {
      # A new interface is named by its subnet and security groups: only the
      # function's (any partition, region and account around the IDs, as the stack's).
      Sid    = "CreateInterfacesInOwnSubnets"
      Effect = "Allow"
      Action = ["ec2:CreateNetworkInterface"]
      Resource = concat(
        ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"],
        [for id in var.subnet_ids : "arn:*:ec2:*:*:subnet/${id}"],
        [for id in var.security_group_ids : "arn:*:ec2:*:*:security-group/${id}"],
      )
    },
    {
      # Lambda's guide: a DeleteNetworkInterface not allowed on every interface ID may
      # cost the function its VPC access; so every interface of this account and
      # region, narrowed by EC2's ec2:Subnet condition key to the function's subnets
      # (after a change of subnet_ids, delete the old subnets' interfaces by hand).
      Sid       = "ManageInterfacesInOwnSubnets"
      Effect    = "Allow"
      Action    = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
      Resource  = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"]
      Condition = { ArnLike = { "ec2:Subnet" = [for id in var.subnet_ids : "arn:*:ec2:*:*:subnet/${id}"] } }
    },
    {
      # EC2 authorizes Describe calls on "*" only.
      Sid      = "DescribeInterfacesAndSubnets"
      Effect   = "Allow"
      Action   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
      Resource = ["*"]
    },
  ]

  # The interface endpoints asked for (endpoints.tf), each with its policy: this
  # account's principals on this account's resources; through rds also the RDS roles'
  # sessions (another account's principals), for tgsync's three reads only; through sts
  # only assuming those roles (checks.tf refuses create_sts_endpoint without one).
  endpoints = { for service, wanted in {
    elasticloadbalancing = var.create_elb_endpoint
    rds                  = var.create_rds_endpoint
    sts                  = var.create_sts_endpoint && length(local.rds_roles) > 0
  } : service => service if wanted }
  this_account_only = {
    Sid       = "OnlyThisAccount"
    Effect    = "Allow"
    Principal = "*"
    Resource  = "*"
    Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id, "aws:ResourceAccount" = local.account_id } }
  }
  endpoint_statements = {
    elasticloadbalancing = [merge(local.this_account_only, { Action = "elasticloadbalancing:*" })]
    rds = concat([merge(local.this_account_only, { Action = "rds:*" })], [for statement in [{
      Sid       = "TheRdsRoleReadsOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["rds:DescribeDBClusters", "rds:DescribeDBInstances", "rds:DescribeDBClusterEndpoints"]
      Resource  = "*"
      Condition = { ArnEquals = { "aws:PrincipalArn" = local.rds_roles } }
    }] : statement if length(local.rds_roles) > 0])
    sts = [{
      Sid       = "OnlyAssumingTheRdsRole"
      Effect    = "Allow"
      Principal = "*"
      Action    = "sts:AssumeRole"
      Resource  = local.rds_roles
      Condition = { StringEquals = { "aws:PrincipalAccount" = local.account_id } }
    }]
  }
  endpoint_policies = { for service in keys(local.endpoints) :
    service => { Version = "2012-10-17", Statement = local.endpoint_statements[service] }
  }

  # The alarm topic's key (alarm_email): the account administers it; CloudWatch may use
  # it for this account's alarms of this module only (the confused-deputy conditions of
  # CloudWatch's alarm actions: aws:SourceArn is the alarm's ARN; every alarm here is
  # named NAME-..., where the stack, whose alarms CloudFormation names, takes alarm:*).
  alarm_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchPublishesAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*" }
        }
      },
    ]
  }

  # The function's environment: the settings, and the mappings (one by hostname and
  # group, or many as TGSYNC_MAPPINGS, each entry without its unset keys).
  mapping_entries = [for m in var.mappings : { for key, value in m : key => value if value != null }]
  environment = merge(local.setting_environment, {
    TGSYNC_HOSTNAME              = local.has_mappings || var.hostname == null ? "" : var.hostname
    TGSYNC_TARGET_GROUP_ARN      = local.has_mappings || !local.has_single ? "" : var.target_group_arn
    POWERTOOLS_SERVICE_NAME      = "tgsync"
    POWERTOOLS_METRICS_NAMESPACE = "tgsync"
    POWERTOOLS_LOG_LEVEL         = var.log_level
    }, local.has_mappings ? {
    TGSYNC_MAPPINGS = jsonencode(local.mapping_entries)
  } : {})

  # Events: OpenSearch domains (domain_arns, and the domains among event_source_arns)
  # and RDS clusters and instances (the rest of event_source_arns).
  domain_sources = distinct(concat(var.domain_arns, [for arn in var.event_source_arns : arn if strcontains(arn, ":es:")]))
  rds_sources    = [for arn in var.event_source_arns : arn if strcontains(arn, ":rds:")]
  all_event_patterns = {
    domain_events = {
      description = "OpenSearch notifications of the domains tgsync serves invoke it at once"
      pattern = {
        source = ["aws.es"]
        detail-type = [
          "Amazon OpenSearch Service Software Update Notification",
          "Amazon OpenSearch Service Auto-Tune Notification",
          "Amazon OpenSearch Service Cluster Status Notification",
          "Amazon OpenSearch Service Domain Update Notification",
          "Amazon OpenSearch Service Notification",
          "Amazon ES Service Software Update Notification",
          "Amazon ES Auto-Tune Notification",
        ]
        resources = local.domain_sources
      }
    }
    domain_api_calls = {
      description = "API calls that start a blue/green deployment of tgsync's domains invoke it"
      pattern = {
        source      = ["aws.es"]
        detail-type = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["es.amazonaws.com"]
          eventName   = ["UpdateDomainConfig", "UpgradeDomain", "StartServiceSoftwareUpdate"]
          # Only calls that succeeded: a refused or failed call starts no deployment.
          errorCode = [{ exists = false }]
          # CloudTrail names the domain, not its ARN.
          requestParameters = { domainName = [for arn in local.domain_sources : split("/", arn)[1]] }
        }
      }
    }
    rds_events = {
      description = "RDS events of the clusters and instances tgsync serves invoke it at once"
      # The categories that can move a member or a role; others never invoke it.
      pattern = {
        source      = ["aws.rds"]
        detail-type = ["RDS DB Cluster Event", "RDS DB Instance Event"]
        detail = {
          EventCategories = ["failover", "failure", "maintenance", "availability", "deletion", "configuration change"]
          SourceArn       = local.rds_sources
        }
      }
    }
  }
  event_wanted = {
    domain_events    = length(local.domain_sources) > 0
    domain_api_calls = length(local.domain_sources) > 0
    rds_events       = length(local.rds_sources) > 0
  }
  event_patterns = { for rule, spec in local.all_event_patterns : rule => spec if local.event_wanted[rule] }


  # The no-healthy-target alarms read ELB's HealthyHostCount per group: the one group
  # kept (one target_group_arn, no mappings, no discovery), else health_alarm_filter's
  # groups, else every group of the region behind a load balancer.
  one_explicit_group = !local.has_mappings && !local.discover_on && local.has_single
  health_where = (local.one_explicit_group ? "WHERE TargetGroup = '${try(split(":", var.target_group_arn)[5], "")}' "
    : (var.health_alarm_filter != null && var.health_alarm_filter != "" ? "WHERE ${var.health_alarm_filter} " : "")
  )
  health_namespaces = { alb = "AWS/ApplicationELB", nlb = "AWS/NetworkELB" }
  health_queries = { for kind, namespace in local.health_namespaces :
    kind => "SELECT MIN(HealthyHostCount) FROM SCHEMA(\"${namespace}\", LoadBalancer, TargetGroup) ${local.health_where}GROUP BY LoadBalancer, TargetGroup ORDER BY MIN() ASC"
  }
}
