"""What invokes the function: EventBridge Scheduler every minute (a late tick dropped,
never retried), and optionally the OpenSearch events of the domains it serves."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tgsync.cdk.alarms import add_dead_letter_alarm
from tgsync.cdk.checkov import skip_checks
from tgsync.events import API_CALL, OPENSEARCH_API_CALLS, OPENSEARCH_NOTIFICATIONS


def add_schedule(scope: Construct, function: lambda_.IFunction, every: Duration) -> None:
    """The schedule (``every`` whole minutes), its own group, and the role Scheduler
    invokes the function with, in ``scope``."""
    stack = Stack.of(scope)
    # Scheduler names the schedule group, never the schedule, as the source of the
    # role's use (its guide: aws:SourceArn must be a group's ARN). A group of our
    # own, holding this schedule only, scopes the role to this schedule.
    # Named here, its ARN known without the group: one reference fewer to resolve.
    name = Names.unique_resource_name(scope, max_length=64, separator="-")
    group = scheduler.CfnScheduleGroup(scope, "ScheduleGroup", name=name)
    group_arn = stack.format_arn(service="scheduler", resource="schedule-group",
                                 resource_name=name)
    role = iam.Role(scope, "SchedulerRole",
                    description="lets EventBridge Scheduler invoke the tgsync function",
                    assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                        "StringEquals": {"aws:SourceAccount": stack.account,
                                         "aws:SourceArn": group_arn}}))
    function.grant_invoke(role)
    minutes = int(every.to_minutes())
    tick = scheduler.CfnSchedule(
        scope, "Schedule", description="runs tgsync every minute", group_name=name,
        schedule_expression=f"rate({minutes} minute{'s' if minutes > 1 else ''})",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        state="ENABLED",
        target=scheduler.CfnSchedule.TargetProperty(
            arn=function.function_arn, role_arn=role.role_arn,
            input=json.dumps({"source": "tgsync.schedule"}),
            # The next tick is a retry; one that arrives late would only overlap it.
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_retry_attempts=0, maximum_event_age_in_seconds=60)))
    tick.add_resource_dependency(group)


def add_domain_events(scope: Construct, function: lambda_.IFunction,
                      domain_arns: Sequence[str]) -> sqs.Queue:
    """OpenSearch events of these domains invoke the function at once; those that
    cannot be delivered land in the dead-letter queue (returned), which alarms."""
    domain_arns = list(domain_arns)
    dead_letter_queue = sqs.Queue(
        scope, "EventDeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED,
        retention_period=Duration.days(14), enforce_ssl=True)
    skip_checks(dead_letter_queue, {
        "CKV_AWS_27": "Encrypted with SQS-managed keys: EventBridge cannot deliver to a "
                      "queue under the AWS-managed KMS key; events hold no secrets."})
    target = targets.LambdaFunction(
        function, dead_letter_queue=dead_letter_queue, retry_attempts=3,
        max_event_age=Duration.minutes(5))
    events.Rule(scope, "DomainEventRule",
                description="OpenSearch notifications of the domains tgsync serves",
                event_pattern=events.EventPattern(
                    source=["aws.es"], detail_type=sorted(OPENSEARCH_NOTIFICATIONS),
                    resources=domain_arns),
                targets=[target])
    # CloudTrail names the domain, not its ARN (see deploy/tgsync.yaml).
    names = [Stack.of(scope).split_arn(arn, ArnFormat.SLASH_RESOURCE_NAME).resource_name or arn
             for arn in domain_arns]
    events.Rule(scope, "DomainApiCallRule",
                description="API calls that start a blue/green of tgsync's domains",
                event_pattern=events.EventPattern(
                    source=["aws.es"], detail_type=[API_CALL],
                    # A call that failed (errorCode set) started nothing.
                    detail={"eventSource": ["es.amazonaws.com"],
                            "eventName": sorted(OPENSEARCH_API_CALLS),
                            "errorCode": [{"exists": False}],
                            "requestParameters": {"domainName": names}}),
                targets=[target])
    add_dead_letter_alarm(scope, dead_letter_queue)
    return dead_letter_queue
