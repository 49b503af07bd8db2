"""What invokes the function: EventBridge Scheduler on the construct's ``schedule`` (a
late tick dropped, never retried), and optionally the events of the OpenSearch domains,
RDS DB clusters and RDS DB instances it serves."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Names, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from tgsync.cdk.alarms import add_dead_letter_alarm
from tgsync.cdk.checkov import skip_checks
from tgsync.events import (
    API_CALL,
    OPENSEARCH_API_CALLS,
    OPENSEARCH_NOTIFICATIONS,
    RDS_CATEGORIES,
    RDS_DETAIL_TYPES,
    RDS_SOURCE,
)

#: Whole ARNs, as the stack's EventSourceArns pattern takes them (no wildcards).
DOMAIN_ARN = re.compile(r"^arn:aws[a-z-]*:es:[a-z0-9-]+:[0-9]{12}:domain/[a-z][a-z0-9-]{2,27}$")
RDS_ARN = re.compile(
    r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:(cluster|db):"
    r"[A-Za-z][A-Za-z0-9-]{0,62}$"
)


def event_sources(
    domain_arns: Sequence[str], event_source_arns: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The OpenSearch domain ARNs and the RDS cluster and instance ARNs of both keywords,
    checked: a :class:`ValueError` names the keyword, the entry and the fix.

    A token is taken as it is given: an OpenSearch domain's in ``domain_arns`` (as
    before), an RDS cluster's or instance's in ``event_source_arns`` (e.g.
    ``cluster.cluster_arn``): its kind cannot be read before deployment.
    """
    domains, rds = [], []
    for index, arn in enumerate(domain_arns):
        if not Token.is_unresolved(arn) and DOMAIN_ARN.match(arn) is None:
            raise ValueError(
                f"domain_arns[{index}]={arn!r}: not an OpenSearch domain ARN; give "
                "arn:aws:es:REGION:ACCOUNT:domain/NAME (whole, no wildcards), or pass an RDS "
                "cluster or instance ARN in event_source_arns"
            )
        domains.append(arn)
    for index, arn in enumerate(event_source_arns):
        if Token.is_unresolved(arn) or RDS_ARN.match(arn):
            rds.append(arn)
        elif DOMAIN_ARN.match(arn):
            domains.append(arn)
        else:
            raise ValueError(
                f"event_source_arns[{index}]={arn!r}: not an OpenSearch domain, RDS DB "
                "cluster or RDS DB instance ARN; give arn:aws:es:REGION:ACCOUNT:domain/NAME, "
                "arn:aws:rds:REGION:ACCOUNT:cluster:NAME or "
                "arn:aws:rds:REGION:ACCOUNT:db:NAME (whole, no wildcards)"
            )
    return list(dict.fromkeys(domains)), list(dict.fromkeys(rds))


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
    group_arn = stack.format_arn(service="scheduler", resource="schedule-group", resource_name=name)
    role = iam.Role(
        scope,
        "SchedulerRole",
        description="lets EventBridge Scheduler invoke the tgsync function",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": group_arn}
            },
        ),
    )
    function.grant_invoke(role)
    minutes = int(every.to_minutes())
    rate = f"{minutes} minute{'s' if minutes > 1 else ''}"
    tick = scheduler.CfnSchedule(
        scope,
        "Schedule",
        description=f"runs tgsync every {rate}",
        group_name=name,
        schedule_expression=f"rate({rate})",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        state="ENABLED",
        target=scheduler.CfnSchedule.TargetProperty(
            arn=function.function_arn,
            role_arn=role.role_arn,
            input=json.dumps({"source": "tgsync.schedule"}),
            # The next tick is a retry; one that arrives late would only overlap it.
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_retry_attempts=0, maximum_event_age_in_seconds=60
            ),
        ),
    )
    tick.add_resource_dependency(group)


def add_event_sources(
    scope: Construct,
    function: lambda_.IFunction,
    domain_arns: Sequence[str],
    rds_arns: Sequence[str],
) -> sqs.Queue:
    """Events of these OpenSearch domains and RDS clusters and instances invoke the
    function at once; those that cannot be delivered land in the dead-letter queue
    (returned), which alarms."""
    dead_letter_queue = sqs.Queue(
        scope,
        "EventDeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        retention_period=Duration.days(14),
        enforce_ssl=True,
    )
    skip_checks(
        dead_letter_queue,
        {
            "CKV_AWS_27": "Encrypted with SQS-managed keys: EventBridge cannot deliver to a "
            "queue under the AWS-managed KMS key; events hold no secrets."
        },
    )
    target = targets.LambdaFunction(
        function,
        dead_letter_queue=dead_letter_queue,
        retry_attempts=3,
        max_event_age=Duration.minutes(5),
    )
    if domain_arns:
        _add_domain_rules(scope, list(domain_arns), target)
    if rds_arns:
        # The categories that can move a member or a role; others never invoke it.
        events.Rule(
            scope,
            "RdsEventRule",
            description="RDS events of the clusters and instances tgsync serves",
            event_pattern=events.EventPattern(
                source=[RDS_SOURCE],
                detail_type=sorted(RDS_DETAIL_TYPES),
                detail={"EventCategories": sorted(RDS_CATEGORIES), "SourceArn": list(rds_arns)},
            ),
            targets=[target],
        )
    add_dead_letter_alarm(scope, dead_letter_queue)
    return dead_letter_queue


def _add_domain_rules(
    scope: Construct, domain_arns: list[str], target: targets.LambdaFunction
) -> None:
    events.Rule(
        scope,
        "DomainEventRule",
        description="OpenSearch notifications of the domains tgsync serves",
        event_pattern=events.EventPattern(
            source=["aws.es"], detail_type=sorted(OPENSEARCH_NOTIFICATIONS), resources=domain_arns
        ),
        targets=[target],
    )
    # CloudTrail names the domain, not its ARN (see deploy/tgsync.yaml).
    names = [
        Stack.of(scope).split_arn(arn, ArnFormat.SLASH_RESOURCE_NAME).resource_name or arn
        for arn in domain_arns
    ]
    events.Rule(
        scope,
        "DomainApiCallRule",
        description="API calls that start a blue/green of tgsync's domains",
        event_pattern=events.EventPattern(
            source=["aws.es"],
            detail_type=[API_CALL],
            # A call that failed (errorCode set) started nothing.
            detail={
                "eventSource": ["es.amazonaws.com"],
                "eventName": sorted(OPENSEARCH_API_CALLS),
                "errorCode": [{"exists": False}],
                "requestParameters": {"domainName": names},
            },
        ),
        targets=[target],
    )
