"""An AWS CDK construct: a target group that follows a hostname (``tgsync[cdk]``).

::

    from tgsync.cdk import HostnameTargetSync

    HostnameTargetSync(self, "OpenSearch",
        hostname=domain.domain_endpoint,        # a string or a token
        target_group=target_group,              # an ip target group, ALB's or NLB's
        vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        create_elb_endpoint=True)               # unless the VPC has one

It synthesises what ``deploy/tgsync.yaml`` deploys: the function from this package's
own code (the same reproducible zip, built at synth time unless ``code`` is given),
``python3.13`` on arm64, reserved concurrency 1, EventBridge Scheduler every minute
with a dropped-not-retried policy, a least-privilege role whose writes are scoped to
the target groups given, a security group that lets the function reach the ELB API and
DNS only, a log group with retention, the alarms, and optionally the OpenSearch event
rules and the ``elasticloadbalancing`` interface endpoint.

The keywords that are settings of the function come from :data:`tgsync.settings.SETTINGS`
(its ``cdk`` names) and are checked at synth time with the function's own parsers, so a
value the function would refuse at run time fails ``cdk synth`` instead.
``function``, ``role``, ``log_group``, ``security_group`` and ``dashboard`` are exposed
for extension.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    ArnFormat,
    CfnResource,
    Duration,
    Fn,
    IStableStringProducer,
    Lazy,
    Names,
    Stack,
    Token,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tgsync import bundle
from tgsync.config import normalize_hostname
from tgsync.events import API_CALL, OPENSEARCH_API_CALLS, OPENSEARCH_NOTIFICATIONS
from tgsync.plan import MAX_CYCLE_INTERVAL_SECONDS
from tgsync.provider.elbv2 import READ_OPERATIONS, WRITE_OPERATIONS
from tgsync.settings import SETTINGS, parse_nameservers, setting

HANDLER = "tgsync.lambda_handler.handler"
#: The function's timeout: the retry budget, and following until 10 s before it.
TIMEOUT = Duration.seconds(55)
#: The log levels the stack's LogLevel parameter allows.
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
#: The tag keys tgsync writes on a group: its memory of when an IP went missing.
MEMORY_TAG_KEYS = ["tgsync:missing:*"]
#: The settings the construct takes as keywords: every one with a CDK name.
KEYWORD_SETTINGS = tuple(item for item in SETTINGS if item.cdk is not None)
#: How a bool keyword is written into the variable (off, on), as the stack writes it.
_SWITCHES = {"dry_run": ("false", "true"), "discover": ("", "tags"),
             "outside_vpc": ("refuse", "allow")}
#: Settings that apply to discovery only: the function refuses them without it.
_DISCOVERY_ONLY = ("owner", "discover_prefix")
#: The health alarms' query; Metrics Insights' WHERE knows only =, != and AND.
HEALTH_QUERY = ('SELECT MIN(HealthyHostCount) FROM SCHEMA("{namespace}", LoadBalancer, '
                'TargetGroup){where} GROUP BY LoadBalancer, TargetGroup ORDER BY MIN() ASC')
HEALTH_NAMESPACES = {"Alb": "AWS/ApplicationELB", "Nlb": "AWS/NetworkELB"}


def _actions(*operations: str) -> list[str]:
    return [f"elasticloadbalancing:{operation}" for operation in operations]


#: The calls the provider makes: the role allows exactly these (as the stack's does).
ELB_ACTIONS_READ = _actions(*READ_OPERATIONS)
ELB_ACTIONS_WRITE = _actions(*WRITE_OPERATIONS)
#: Of the writes, the ones that change targets; the rest write tgsync's memory tags.
ELB_ACTIONS_TARGETS = _actions("RegisterTargets", "DeregisterTargets")
ELB_ACTIONS_TAGS = [action for action in ELB_ACTIONS_WRITE if action not in ELB_ACTIONS_TARGETS]


class HostnameTargetSync(Construct):
    """Keeps ip target groups pointed at hostnames with tgsync's Lambda function.

    Every keyword is a setting of the function stack (``deploy/tgsync.yaml``); unset
    ones keep tgsync's defaults. Durations take a :class:`~aws_cdk.Duration` or a
    number of seconds. Mappings beyond the first: :meth:`add_mapping`.

    Without ``security_groups`` the construct makes the function's security group:
    outbound HTTPS to the ``elasticloadbalancing`` endpoint only (the one it creates
    with ``create_elb_endpoint``, else any address of the VPC: the VPC must then have
    such an endpoint) and DNS to the VPC's resolver (or to ``dns_servers``). A function
    that reaches the ELB API through a NAT needs ``security_groups`` of your own.
    The no-healthy-target alarms watch ELB's ``HealthyHostCount`` of the one target
    group kept when there is exactly one and discovery is off; otherwise every group of
    the region behind a load balancer, or those ``health_alarm_filter`` selects (a
    Metrics Insights ``WHERE`` condition, ``=``, ``!=`` and ``AND`` only, e.g.
    ``LoadBalancer = 'app/search/0123456789abcdef'``), which replaces the one-group
    condition when given.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        hostname: str | None = None,
        target_group: elbv2.ITargetGroup | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        port: int | None = None,
        alb_id: str | None = None,
        stale_after: Duration | float | None = None,
        lookups: int | None = None,
        dns_servers: Sequence[str] | None = None,
        allowed_cidrs: Sequence[str] | None = None,
        policy: str | None = None,
        dry_run: bool | None = None,
        concurrency: int | None = None,
        api_rate: float | None = None,
        resync_every: Duration | float | None = None,
        follow_interval: Duration | float | None = None,
        follow_for: Duration | float | None = None,
        discover: bool | str | None = None,
        owner: str | None = None,
        discover_prefix: str | None = None,
        discover_every: Duration | float | None = None,
        outside_vpc: bool | str | None = None,
        domain_arns: Sequence[str] = (),
        schedule: Duration | None = None,
        memory_size: int = 256,
        architecture: lambda_.Architecture | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_encryption_key: kms.IKey | None = None,
        log_level: str = "INFO",
        alarm_topic: sns.ITopic | None = None,
        health_alarm_filter: str | None = None,
        create_elb_endpoint: bool = False,
        code: lambda_.Code | None = None,
    ) -> None:
        arguments = locals()  # first: the keywords only, read by the table's names
        super().__init__(scope, construct_id)
        # port is the first mapping's (a key of TGSYNC_MAPPINGS), not the function's.
        variables = setting_variables({item.cdk: arguments[item.cdk] for item in
                                       KEYWORD_SETTINGS if item.cdk and item.cdk != "port"})
        on = discover_on(discover)
        every = schedule or Duration.minutes(1)
        _check_schedule(every)
        if log_level not in LOG_LEVELS:
            raise ValueError(f"log_level={log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        if health_alarm_filter is not None and not health_alarm_filter.strip():
            raise ValueError("health_alarm_filter is empty: give a Metrics Insights "
                             "condition such as LoadBalancer = 'app/name/id', or None")
        if (hostname is None) != (target_group is None) or (hostname is None and not on):
            raise ValueError("give hostname and target_group together (more with add_mapping), "
                             "or discover=True to keep the groups tagged tgsync:hostname")
        if port is not None and hostname is None:
            raise ValueError("port applies to hostname and target_group: give them, or tag "
                             "the discovered groups tgsync:port")
        arch = architecture or lambda_.Architecture.ARM_64
        stack = Stack.of(self)
        self._mappings: list[dict[str, Any]] = []
        self._discover = on
        self._health_filter = health_alarm_filter

        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention,
                                       encryption_key=log_encryption_key)
        subnets = vpc.select_subnets(**_selection(vpc_subnets))
        self.security_group: ec2.SecurityGroup | None = None
        if security_groups is None:
            self.security_group = ec2.SecurityGroup(
                self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
                description="tgsync function: HTTPS to the ELB API and DNS, nothing else")
            groups: list[ec2.ISecurityGroup] = [self.security_group]
        else:
            groups = list(security_groups)
        self.role = iam.Role(
            self, "Role", description="tgsync function role, least privilege",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": stack.account}}))
        self._base_statements(subnets.subnet_ids, groups)
        # These three support no resource-level permissions.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ObserveTargetGroups", actions=ELB_ACTIONS_READ, resources=["*"]))
        self._writes = iam.PolicyStatement(sid="ChangeOnlyTheKeptTargetGroups",
                                           actions=ELB_ACTIONS_TARGETS)
        self._tag_writes = iam.PolicyStatement(
            sid="WriteOnlyOwnMemoryTagsOnTheKeptGroups", actions=ELB_ACTIONS_TAGS,
            conditions={"ForAllValues:StringLike": {"aws:TagKeys": MEMORY_TAG_KEYS}})
        self.function = lambda_.Function(
            self, "Function",
            description="Keeps ELBv2 ip target groups pointed at hostnames (tgsync)",
            runtime=lambda_.Runtime.PYTHON_3_13, architecture=arch, handler=HANDLER,
            code=code or _built_code(arch), role=self.role, memory_size=memory_size,
            timeout=TIMEOUT, reserved_concurrent_executions=1,
            vpc=vpc, vpc_subnets=vpc_subnets, security_groups=groups,
            log_group=self.log_group, logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            environment={**variables, "POWERTOOLS_SERVICE_NAME": "tgsync",
                         "POWERTOOLS_METRICS_NAMESPACE": "tgsync",
                         "POWERTOOLS_LOG_LEVEL": log_level})
        _skip_checks(self.function, {
            "CKV_AWS_116": "No dead-letter queue: a missed one-minute tick has no value "
                           "later; the next tick converges, and errors raise the Errors alarm.",
            "CKV_AWS_173": "The environment holds configuration only (hostnames, ARNs), no "
                           "secrets; the default AWS-managed key encrypts it at rest.",
            "CKV_AWS_272": "Code signing is a separate organisational choice."})
        _skip_checks(self.log_group, {
            "CKV_AWS_158": "CloudWatch Logs encrypts every log group at rest; the logs hold "
                           "IPs and ARNs, no secrets."})
        # A tick that could not run within a minute is worthless: drop it, never retry.
        self.function.configure_async_invoke(max_event_age=Duration.seconds(60),
                                             retry_attempts=0)
        if on:
            self._discovery_statements(owner, variables.get(setting("discover_prefix").env))
        if hostname is not None and target_group is not None:
            self.add_mapping(hostname, target_group, port)
        self._schedule(every)
        if domain_arns:
            self._domain_events(list(domain_arns))
        self._alarms(alarm_topic)
        self.elb_endpoint: ec2.InterfaceVpcEndpoint | None = None
        endpoint_group = None
        if create_elb_endpoint:
            endpoint_group = self._elb_endpoint(vpc, vpc_subnets, groups)
        if self.security_group is not None:
            self._egress(self.security_group, vpc, endpoint_group,
                         variables.get(setting("dns_servers").env))

    # ------------------------------------------------------------------ mappings

    def add_mapping(self, hostname: str, target_group: elbv2.ITargetGroup,
                    port: int | None = None) -> None:
        """Keep one more target group pointed at ``hostname`` (a string or a token),
        on ``port`` (default: the group's own)."""
        if port is not None:
            _check("port", port, str(port))
        if not Token.is_unresolved(hostname):  # a token is checked by the function
            try:
                hostname = normalize_hostname(hostname)
            except ValueError as exc:
                raise ValueError(f"hostname {exc}") from None
        entry: dict[str, Any] = {"hostname": hostname,
                                 "target_group_arn": target_group.target_group_arn}
        if port is not None:
            entry["port"] = port
        self._mappings.append(entry)
        if not self._writes.resources:
            self.role.add_to_policy(self._writes)
            self.role.add_to_policy(self._tag_writes)
        self._writes.add_resources(target_group.target_group_arn)
        self._tag_writes.add_resources(target_group.target_group_arn)
        self.function.add_environment(
            setting("mappings").env, Stack.of(self).to_json_string(self._mappings))

    # ------------------------------------------------------------------ parts

    def _base_statements(self, subnet_ids: list[str],
                         groups: Sequence[ec2.ISecurityGroup]) -> None:
        """What AWSLambdaVPCAccessExecutionRole grants, narrowed to this function."""
        stack = Stack.of(self)

        def ec2_arn(kind: str, name: str) -> str:
            return stack.format_arn(service="ec2", resource=kind, resource_name=name)

        self.role.add_to_policy(iam.PolicyStatement(
            sid="WriteOwnLogGroupOnly", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn]))
        # Lambda manages the function's network interfaces with its role. Describe calls
        # support no resource-level permissions, so they stay on "*".
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DescribeNetworkInterfaces",
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], resources=["*"]))
        # A new interface is named by its subnet and security groups: only the function's.
        # The interface itself has no ID yet, hence network-interface/* of this account
        # and region.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="CreateInterfacesInOwnSubnetsOnly", actions=["ec2:CreateNetworkInterface"],
            resources=[ec2_arn("network-interface", "*"),
                       *(ec2_arn("subnet", subnet) for subnet in subnet_ids),
                       *(ec2_arn("security-group", group.security_group_id)
                         for group in groups)]))
        # Lambda deletes and re-addresses interfaces whose IDs no template can know; its
        # guide asks for every interface ID (a narrower one can cut the function off
        # its VPC). This account and region only.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ManageInterfacesOfThisAccountAndRegion",
            actions=["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                     "ec2:UnassignPrivateIpAddresses"],
            resources=[ec2_arn("network-interface", "*")]))

    def _discovery_statements(self, owner: str | None, prefix: str | None) -> None:
        """Writes on groups that carry tgsync:hostname (and this owner, or none), whose
        name starts with ``prefix`` when one is given."""
        stack = Stack.of(self)
        groups = stack.format_arn(service="elasticloadbalancing", resource="targetgroup",
                                  resource_name=f"{prefix or ''}*")
        tagged = {"aws:ResourceTag/tgsync:hostname": "false"}
        owned: dict[str, Any]
        if owner is not None:
            owned = {"StringEquals": {"aws:ResourceTag/tgsync:owner": owner}}
            asks = {"Null": tagged, **owned}
        else:
            owned = {"Null": {"aws:ResourceTag/tgsync:owner": "true"}}
            asks = {"Null": {**tagged, **owned["Null"]}}
        own_keys = {"ForAllValues:StringLike": {"aws:TagKeys": MEMORY_TAG_KEYS}}
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ChangeOnlyGroupsThatAskForIt", actions=ELB_ACTIONS_TARGETS,
            resources=[groups], conditions=asks))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="WriteOnlyOwnMemoryTagsOnThoseGroups", actions=_actions("AddTags"),
            resources=[groups], conditions={**asks, **own_keys}))
        # Letting go happens after the user removed tgsync:hostname, so removing the
        # memory tags asks for no hostname tag; the owner still has to match.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="RemoveOnlyOwnMemoryTags", actions=_actions("RemoveTags"),
            resources=[groups], conditions={**owned, **own_keys}))

    def _schedule(self, every: Duration) -> None:
        stack = Stack.of(self)
        # Scheduler names the schedule group, never the schedule, as the source of the
        # role's use (its guide: aws:SourceArn must be a group's ARN). A group of our
        # own, holding this schedule only, scopes the role to this schedule.
        # Named here, its ARN known without the group: one reference fewer to resolve.
        name = Names.unique_resource_name(self, max_length=64, separator="-")
        group = scheduler.CfnScheduleGroup(self, "ScheduleGroup", name=name)
        group_arn = stack.format_arn(service="scheduler", resource="schedule-group",
                                     resource_name=name)
        role = iam.Role(self, "SchedulerRole",
                        description="lets EventBridge Scheduler invoke the tgsync function",
                        assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                            "StringEquals": {"aws:SourceAccount": stack.account,
                                             "aws:SourceArn": group_arn}}))
        self.function.grant_invoke(role)
        minutes = int(every.to_minutes())
        tick = scheduler.CfnSchedule(
            self, "Schedule", description="runs tgsync every minute", group_name=name,
            schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn, role_arn=role.role_arn,
                input=json.dumps({"source": "tgsync.schedule"}),
                # The next tick is a retry; one that arrives late would only overlap it.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60)))
        tick.add_resource_dependency(group)

    def _domain_events(self, domain_arns: list[str]) -> None:
        """OpenSearch events of these domains invoke the function at once."""
        self.dead_letter_queue = sqs.Queue(
            self, "EventDeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=Duration.days(14), enforce_ssl=True)
        _skip_checks(self.dead_letter_queue, {
            "CKV_AWS_27": "Encrypted with SQS-managed keys: EventBridge cannot deliver to a "
                          "queue under the AWS-managed KMS key; events hold no secrets."})
        target = targets.LambdaFunction(
            self.function, dead_letter_queue=self.dead_letter_queue, retry_attempts=3,
            max_event_age=Duration.minutes(5))
        events.Rule(self, "DomainEventRule",
                    description="OpenSearch notifications of the domains tgsync serves",
                    event_pattern=events.EventPattern(
                        source=["aws.es"], detail_type=sorted(OPENSEARCH_NOTIFICATIONS),
                        resources=domain_arns),
                    targets=[target])
        # CloudTrail names the domain, not its ARN (see deploy/tgsync.yaml).
        names = [Stack.of(self).split_arn(arn, ArnFormat.SLASH_RESOURCE_NAME).resource_name or arn
                 for arn in domain_arns]
        events.Rule(self, "DomainApiCallRule",
                    description="API calls that start a blue/green of tgsync's domains",
                    event_pattern=events.EventPattern(
                        source=["aws.es"], detail_type=[API_CALL],
                        # A call that failed (errorCode set) started nothing.
                        detail={"eventSource": ["es.amazonaws.com"],
                                "eventName": sorted(OPENSEARCH_API_CALLS),
                                "errorCode": [{"exists": False}],
                                "requestParameters": {"domainName": names}}),
                    targets=[target])
        cloudwatch.Alarm(
            self, "EventDeadLettersAlarm",
            alarm_description="An OpenSearch event could not be delivered to tgsync (see "
                              "the dead-letter queue); the schedule still converges.",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"),
            threshold=0, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)

    def _elb_endpoint(self, vpc: ec2.IVpc, vpc_subnets: ec2.SubnetSelection | None,
                      groups: Sequence[ec2.ISecurityGroup]) -> ec2.SecurityGroup:
        """The elasticloadbalancing interface endpoint: HTTPS from the function only,
        for this account's principals on this account's resources only."""
        group = ec2.SecurityGroup(
            self, "ElbEndpointSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="elasticloadbalancing endpoint, HTTPS from the tgsync function only")
        for source in groups:
            group.add_ingress_rule(source, ec2.Port.tcp(443), "HTTPS from the tgsync function")
        self.elb_endpoint = ec2.InterfaceVpcEndpoint(
            self, "ElbEndpoint", vpc=vpc,
            service=ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING,
            subnets=vpc_subnets, private_dns_enabled=True, security_groups=[group],
            open=False)  # open would admit the whole VPC CIDR
        account = Stack.of(self).account
        self.elb_endpoint.add_to_policy(iam.PolicyStatement(
            sid="ThisAccountOnly", principals=[iam.AnyPrincipal()],
            actions=["elasticloadbalancing:*"], resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalAccount": account,
                                         "aws:ResourceAccount": account}}))
        return group

    def _egress(self, group: ec2.SecurityGroup, vpc: ec2.IVpc,
                endpoint: ec2.SecurityGroup | None, dns_servers: str | None) -> None:
        """The function's security group: HTTPS to the ELB API, DNS, nothing else."""
        if endpoint is not None:
            group.add_egress_rule(endpoint, ec2.Port.tcp(443),
                                  "HTTPS to the elasticloadbalancing endpoint")
        else:
            group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443),
                                  "HTTPS to the VPC's elasticloadbalancing endpoint")
        if dns_servers is not None and not Token.is_unresolved(dns_servers):
            servers = [(server.address, server.port) for server in parse_nameservers(dns_servers)]
            peers = [(ec2.Peer.ipv6(f"{host}/128") if ":" in host else ec2.Peer.ipv4(
                f"{host}/32"), port, host) for host, port in servers]
        else:
            peers = [(ec2.Peer.ipv4(_resolver(vpc.vpc_cidr_block)), 53, "the VPC resolver")]
        for peer, port, name in peers:
            group.add_egress_rule(peer, ec2.Port.udp(port), f"DNS to {name}")
            group.add_egress_rule(peer, ec2.Port.tcp(port), f"DNS over TCP to {name}")

    def _alarms(self, topic: sns.ITopic | None) -> None:
        """The stack's alarms (errors, not running, failed lookups, no healthy target)
        and its dashboard."""
        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="tgsync", metric_name=name,
                                     dimensions_map={"service": "tgsync"},
                                     statistic=statistic, period=Duration.minutes(1))

        alarms: list[tuple[str, str, cloudwatch.IMetric, int, int,
                           cloudwatch.ComparisonOperator, cloudwatch.TreatMissingData]] = [
            ("ErrorsAlarm", "tgsync failed 3 minutes running (see its log)",
             self.function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
             1, 3, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
             cloudwatch.TreatMissingData.NOT_BREACHING),
            ("NotRunningAlarm", "tgsync has not run for 5 minutes",
             self.function.metric_invocations(period=Duration.minutes(5), statistic="Sum"),
             1, 1, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
             cloudwatch.TreatMissingData.BREACHING),
            ("ResolutionFailuresAlarm", "a hostname has not resolved for 3 minutes",
             metric("ResolutionFailures", "Sum"), 1, 3,
             cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
             cloudwatch.TreatMissingData.NOT_BREACHING),
        ]
        # ELB's own HealthyHostCount, every minute for every group, settled or not
        # (tgsync's MinHealthyTargets only counts the groups it reads in a cycle).
        for kind, namespace in HEALTH_NAMESPACES.items():
            query = _Produce(partial(self._health_query, namespace))
            alarms.append((
                f"NoHealthyTarget{kind}Alarm",
                f"A target group ({namespace}) has had no healthy target for 3 minutes: the "
                "load balancer now fails open to unhealthy targets. Check the backend and "
                "the health check.",
                cloudwatch.MathExpression(
                    expression=Lazy.string(query),
                    label=f"MIN(HealthyHostCount) {namespace}", period=Duration.minutes(1),
                    using_metrics={}),
                1, 3, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                cloudwatch.TreatMissingData.NOT_BREACHING))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Targets wanted; registered and healthy in the groups read", left=[
                    *(metric(name, "Average") for name in ("Wanted", "Registered",
                                                           "HealthyTargets")),
                    metric("MinHealthyTargets", "Minimum")]),
            cloudwatch.GraphWidget(title="Registrations and retirements", left=[
                metric(name, "Sum") for name in ("Registrations", "Deregistrations")]),
            cloudwatch.GraphWidget(title="Failures", left=[
                *(metric(name, "Sum") for name in ("ResolutionFailures", "MappingFailures",
                                                    "RefusedAnswers")),
                self.function.metric_errors(period=Duration.minutes(1), statistic="Sum")]),
            cloudwatch.GraphWidget(title="Function", left=[
                self.function.metric_duration(period=Duration.minutes(1), statistic="p99"),
                self.function.metric_invocations(period=Duration.minutes(1), statistic="Sum"),
                self.function.metric_throttles(period=Duration.minutes(1), statistic="Sum")]))
        for name, text, measured, threshold, periods, comparison, missing in alarms:
            alarm = cloudwatch.Alarm(self, name, alarm_description=text, metric=measured,
                                     threshold=threshold, evaluation_periods=periods,
                                     datapoints_to_alarm=periods,
                                     comparison_operator=comparison,
                                     treat_missing_data=missing)
            if topic is not None:
                alarm.add_alarm_action(actions.SnsAction(topic))

    def _health_query(self, namespace: str) -> str:
        """The alarm's query, once every mapping is known: the one group kept, else the
        filter given, else every group of the region behind a load balancer."""
        where = ""
        if len(self._mappings) == 1 and not self._discover:
            where = f" WHERE TargetGroup = '{_full_name(self._mappings[0]['target_group_arn'])}'"
        if self._health_filter is not None:
            where = f" WHERE {self._health_filter.strip()}"
        return HEALTH_QUERY.format(namespace=namespace, where=where)


@jsii.implements(IStableStringProducer)
class _Produce:
    """A string known at synth time only, for :meth:`Lazy.string`."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        """The string, now that the construct is complete."""
        return self._produce()


def setting_variables(given: Mapping[str, Any]) -> dict[str, str]:
    """The function's variables for the setting keywords given (``None``: not given),
    each checked with the function's own parser; :class:`ValueError` names the keyword
    and the fix."""
    variables: dict[str, str] = {}
    for item in KEYWORD_SETTINGS:
        raw = given.get(item.cdk or "")
        if raw is None:
            continue
        text = _as_text(item.key, raw)
        _check(item.cdk or item.key, raw, text)
        variables[item.env] = text
    if not discover_on(given.get("discover")):
        for key in _DISCOVERY_ONLY:
            if given.get(key) is not None:
                raise ValueError(f"{key} is set but discover is not: set discover=True or "
                                 f"drop {key}")
    return variables


def discover_on(raw: Any) -> bool:
    """Whether the ``discover`` keyword turns discovery on (checked as the function does)."""
    if raw is None:
        return False
    return bool(_check("discover", raw, _as_text("discover", raw)))


def _check(keyword: str, raw: Any, text: str) -> Any:
    """The value as the function parses ``text``, or a ValueError naming the keyword."""
    if Token.is_unresolved(text):  # known at deploy time only: the function checks it
        return text
    item = next(s for s in KEYWORD_SETTINGS if s.cdk == keyword)
    try:
        return item.parse(text)
    except ValueError as exc:
        raise ValueError(f"{keyword}={_shown(raw)}: {exc}") from None


def _as_text(key: str, value: Any) -> str:
    """A keyword's value as its variable holds it."""
    if isinstance(value, bool) and key in _SWITCHES:
        return _SWITCHES[key][value]
    if isinstance(value, Duration):
        return _text(value.to_seconds())
    if isinstance(value, list | tuple):
        return ",".join(str(part) for part in value)
    return _text(value)


def _shown(value: Any) -> str:
    if isinstance(value, Duration):
        return f"{value.to_seconds():g}s"
    return repr(value)


def _selection(selection: ec2.SubnetSelection | None) -> dict[str, Any]:
    """A SubnetSelection as select_subnets' keywords (its Python form takes no struct)."""
    if selection is None:
        return {}
    return {"availability_zones": selection.availability_zones,
            "one_per_az": selection.one_per_az, "subnet_filters": selection.subnet_filters,
            "subnet_group_name": selection.subnet_group_name, "subnets": selection.subnets,
            "subnet_type": selection.subnet_type}


def _resolver(cidr: str) -> str:
    """The VPC resolver: the VPC's primary CIDR base plus two.

    Known at synth (a looked-up VPC): that /32. A token (a VPC of this app): CloudFormation
    cannot add 2 to an address, but Fn::Cidr can cut the block into /31s; the second is
    base+2 and base+3, the resolver and an address AWS reserves in every VPC, so the rule
    admits the resolver and no host. (The whole VPC CIDR would admit any host on 53.)
    """
    if Token.is_unresolved(cidr):
        return Fn.select(1, Fn.cidr(cidr, 2, "1"))
    network = ipaddress.ip_network(cidr, strict=False)
    return f"{network.network_address + 2}/32"


def _full_name(arn: str) -> str:
    """A target group's ``targetgroup/name/id``, as ELB's metrics name it."""
    if Token.is_unresolved(arn):
        return Fn.select(5, Fn.split(":", arn))
    return arn.split(":", 5)[5]


def _skip_checks(construct: Construct, reasons: dict[str, str]) -> None:
    """Tell checkov why its rule does not apply here (as deploy/tgsync.yaml does)."""
    resource = construct.node.default_child
    if isinstance(resource, CfnResource):
        resource.add_metadata("checkov", {"skip": [{"id": check, "comment": why}
                                                   for check, why in reasons.items()]})


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_schedule(every: Duration) -> None:
    """One to four whole minutes: a memory record not confirmed for 300 s is not trusted."""
    seconds, minute = every.to_seconds(), 60
    if seconds % minute or not minute <= seconds <= MAX_CYCLE_INTERVAL_SECONDS:
        raise ValueError(f"schedule={seconds:.0f}s: give 1 to "
                         f"{MAX_CYCLE_INTERVAL_SECONDS / 60:.0f} whole minutes; a slower "
                         "schedule would never retire a healthy stale IP")


def _built_code(arch: lambda_.Architecture) -> lambda_.Code:
    """This package's own code as the reproducible zip, built at synth time."""
    name = "arm64" if arch.name == lambda_.Architecture.ARM_64.name else "x86_64"
    destination = Path(tempfile.mkdtemp(prefix="tgsync-cdk-")) / f"tgsync-lambda-{name}.zip"
    return lambda_.Code.from_asset(str(bundle.build(name, destination)))
