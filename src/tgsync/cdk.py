"""An AWS CDK construct: a target group that follows a hostname (``tgsync[cdk]``).

::

    from tgsync.cdk import HostnameTargetSync

    HostnameTargetSync(self, "OpenSearch",
        hostname=domain.domain_endpoint,        # a string or a token
        target_group=target_group,              # an ip target group, ALB's or NLB's
        vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED))

It synthesises what ``deploy/tgsync.yaml`` deploys: the function from this package's
own code (the same reproducible zip, built at synth time unless ``code`` is given),
``python3.13`` on arm64, reserved concurrency 1, EventBridge Scheduler every minute
with a dropped-not-retried policy, a least-privilege role whose writes are scoped to
the target groups given, a log group with retention, the alarms, and optionally the
OpenSearch event rules and the ``elasticloadbalancing`` interface endpoint.
``function``, ``role``, ``log_group`` and ``dashboard`` are exposed for extension.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnResource, Duration, Stack, Token
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
from tgsync import config as settings
from tgsync.events import API_CALL, OPENSEARCH_API_CALLS, OPENSEARCH_NOTIFICATIONS
from tgsync.plan import MAX_CYCLE_INTERVAL_SECONDS
from tgsync.provider.elbv2 import READ_OPERATIONS, WRITE_OPERATIONS

HANDLER = "tgsync.lambda_handler.handler"
#: The function's timeout: the retry budget, and following until 10 s before it.
TIMEOUT = Duration.seconds(55)


def _actions(*operations: str) -> list[str]:
    return [f"elasticloadbalancing:{operation}" for operation in operations]


#: The calls the provider makes: the role allows exactly these (as the stack's does).
ELB_ACTIONS_READ = _actions(*READ_OPERATIONS)
ELB_ACTIONS_WRITE = _actions(*WRITE_OPERATIONS)


class HostnameTargetSync(Construct):
    """Keeps ip target groups pointed at hostnames with tgsync's Lambda function.

    Every keyword is a setting of the function stack (``deploy/tgsync.yaml``); unset
    ones keep tgsync's defaults. Mappings beyond the first: :meth:`add_mapping`.
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
        stale_after: Duration | None = None,
        lookups: int | None = None,
        dns_servers: Sequence[str] | None = None,
        allowed_cidrs: Sequence[str] | None = None,
        policy: str | None = None,
        dry_run: bool = False,
        concurrency: int | None = None,
        api_rate: float | None = None,
        resync_every: Duration | None = None,
        follow_interval: Duration | None = None,
        follow_for: Duration | None = None,
        discover: bool = False,
        owner: str | None = None,
        discover_every: Duration | None = None,
        domain_arns: Sequence[str] = (),
        schedule: Duration | None = None,
        memory_size: int = 256,
        architecture: lambda_.Architecture | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_encryption_key: kms.IKey | None = None,
        log_level: str = "INFO",
        alarm_topic: sns.ITopic | None = None,
        create_elb_endpoint: bool = False,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        every = schedule or Duration.minutes(1)
        _check_schedule(every)
        if policy is not None and policy not in ("sync", "upsert-only"):
            raise ValueError(f"policy={policy!r}: use 'sync' or 'upsert-only'")
        if owner is not None and not discover:
            raise ValueError("owner is set but discover is not: set discover=True or drop owner")
        if (hostname is None) != (target_group is None) or (hostname is None and not discover):
            raise ValueError("give hostname and target_group together (more with add_mapping), "
                             "or discover=True to keep the groups tagged tgsync:hostname")
        arch = architecture or lambda_.Architecture.ARM_64
        self._mappings: list[dict[str, Any]] = []
        self._groups: list[str] = []

        self.log_group = logs.LogGroup(self, "LogGroup", retention=log_retention,
                                       encryption_key=log_encryption_key)
        self.role = iam.Role(
            self, "Role", description="tgsync function role, least privilege",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Stack.of(self).account}}),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AWSLambdaVPCAccessExecutionRole")])
        # These three support no resource-level permissions.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ObserveTargetGroups", actions=ELB_ACTIONS_READ, resources=["*"]))
        self._writes = iam.PolicyStatement(sid="ChangeOnlyTheKeptTargetGroups",
                                           actions=ELB_ACTIONS_WRITE)
        environment = _environment({
            settings.STALE_AFTER: stale_after and stale_after.to_seconds(),
            settings.LOOKUPS: lookups,
            settings.DNS_SERVERS: ",".join(dns_servers) if dns_servers else None,
            settings.ALLOWED_CIDRS: ",".join(allowed_cidrs) if allowed_cidrs else None,
            settings.POLICY: policy,
            settings.DRY_RUN: "true" if dry_run else None,
            settings.CONCURRENCY: concurrency,
            settings.API_RATE: api_rate,
            settings.RESYNC_EVERY: resync_every and resync_every.to_seconds(),
            settings.FOLLOW_INTERVAL: follow_interval and follow_interval.to_seconds(),
            settings.FOLLOW_FOR: follow_for and follow_for.to_seconds(),
            settings.DISCOVER: "tags" if discover else None,
            settings.OWNER: owner,
            settings.DISCOVER_EVERY: discover_every and discover_every.to_seconds(),
            settings.ALB_ID: alb_id,
            "POWERTOOLS_SERVICE_NAME": "tgsync",
            "POWERTOOLS_METRICS_NAMESPACE": "tgsync",
            "POWERTOOLS_LOG_LEVEL": log_level,
        })
        self.function = lambda_.Function(
            self, "Function",
            description="Keeps ELBv2 ip target groups pointed at hostnames (tgsync)",
            runtime=lambda_.Runtime.PYTHON_3_13, architecture=arch, handler=HANDLER,
            code=code or _built_code(arch), role=self.role, memory_size=memory_size,
            timeout=TIMEOUT, reserved_concurrent_executions=1,
            vpc=vpc, vpc_subnets=vpc_subnets, security_groups=security_groups,
            log_group=self.log_group, logging_format=lambda_.LoggingFormat.JSON,
            environment=environment)
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
        if discover:
            self._discovery_statements(owner)
        if hostname is not None and target_group is not None:
            self.add_mapping(hostname, target_group, port)
        self._schedule(every)
        if domain_arns:
            self._domain_events(list(domain_arns))
        self._alarms(alarm_topic)
        if create_elb_endpoint:
            vpc.add_interface_endpoint(
                "ElbEndpoint", service=ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING,
                subnets=vpc_subnets, private_dns_enabled=True)

    # ------------------------------------------------------------------ mappings

    def add_mapping(self, hostname: str, target_group: elbv2.ITargetGroup,
                    port: int | None = None) -> None:
        """Keep one more target group pointed at ``hostname`` (a string or a token),
        on ``port`` (default: the group's own)."""
        if port is not None and not 1 <= port <= 65535:  # noqa: PLR2004 - the port range
            raise ValueError(f"port={port}: give a port from 1 to 65535, or None for the "
                             "target group's own")
        if not Token.is_unresolved(hostname):  # a token is checked by the function
            try:
                hostname = settings.normalize_hostname(hostname)
            except ValueError as exc:
                raise ValueError(f"hostname {exc}") from None
        entry: dict[str, Any] = {"hostname": hostname,
                                 "target_group_arn": target_group.target_group_arn}
        if port is not None:
            entry["port"] = port
        self._mappings.append(entry)
        if not self._writes.resources:
            self.role.add_to_policy(self._writes)
        self._writes.add_resources(target_group.target_group_arn)
        self.function.add_environment(
            settings.MAPPINGS, Stack.of(self).to_json_string(self._mappings))

    # ------------------------------------------------------------------ parts

    def _discovery_statements(self, owner: str | None) -> None:
        """Writes on groups that carry tgsync:hostname (and this owner, or none)."""
        stack = Stack.of(self)
        groups = stack.format_arn(service="elasticloadbalancing", resource="targetgroup",
                                  resource_name="*")
        asks: dict[str, Any] = {"Null": {"aws:ResourceTag/tgsync:hostname": "false"}}
        if owner is not None:
            asks["StringEquals"] = {"aws:ResourceTag/tgsync:owner": owner}
        else:
            asks["Null"]["aws:ResourceTag/tgsync:owner"] = "true"
        own_keys = {"ForAllValues:StringLike": {"aws:TagKeys": ["tgsync:missing:*"]}}
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ChangeOnlyGroupsThatAskForIt",
            actions=_actions("RegisterTargets", "DeregisterTargets"),
            resources=[groups], conditions=asks))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="WriteOnlyOwnMemoryTagsOnThoseGroups", actions=_actions("AddTags"),
            resources=[groups], conditions={**asks, **own_keys}))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="RemoveOnlyOwnMemoryTags", actions=_actions("RemoveTags"),
            resources=[groups], conditions=own_keys))

    def _schedule(self, every: Duration) -> None:
        role = iam.Role(self, "SchedulerRole",
                        description="lets EventBridge Scheduler invoke the tgsync function",
                        assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                            "StringEquals": {"aws:SourceAccount": Stack.of(self).account}}))
        self.function.grant_invoke(role)
        minutes = int(every.to_minutes())
        scheduler.CfnSchedule(
            self, "Schedule", description="runs tgsync every minute",
            schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn, role_arn=role.role_arn,
                input=json.dumps({"source": "tgsync.schedule"}),
                # The next tick is a retry; one that arrives late would only overlap it.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60)))

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
                        detail={"eventSource": ["es.amazonaws.com"],
                                "eventName": sorted(OPENSEARCH_API_CALLS),
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

    def _alarms(self, topic: sns.ITopic | None) -> None:
        """The stack's alarms (errors, not running, failed lookups, no healthy target)
        and its dashboard."""
        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="tgsync", metric_name=name,
                                     dimensions_map={"service": "tgsync"},
                                     statistic=statistic, period=Duration.minutes(1))

        alarms = [
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
            ("NoHealthyTargetAlarm", "a kept target group has had no healthy target for 3 "
             "minutes", metric("MinHealthyTargets", "Minimum"), 1, 3,
             cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
             cloudwatch.TreatMissingData.NOT_BREACHING),
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Targets wanted; registered and healthy in the groups read", left=[
                    metric(name, "Average") for name in ("Wanted", "Registered",
                                                         "HealthyTargets")]),
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
                                     comparison_operator=comparison,
                                     treat_missing_data=missing)
            if topic is not None:
                alarm.add_alarm_action(actions.SnsAction(topic))


def _skip_checks(construct: Construct, reasons: dict[str, str]) -> None:
    """Tell checkov why its rule does not apply here (as deploy/tgsync.yaml does)."""
    resource = construct.node.default_child
    if isinstance(resource, CfnResource):
        resource.add_metadata("checkov", {"skip": [{"id": check, "comment": why}
                                                   for check, why in reasons.items()]})


def _environment(values: dict[str, Any]) -> dict[str, str]:
    """The function's variables: the settings given, as strings."""
    return {name: _text(value) for name, value in values.items() if value is not None}


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
