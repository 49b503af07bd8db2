"""The stack's alarms (errors, not running, failed lookups, no healthy target, event
dead letters) and its dashboard."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import jsii
from aws_cdk import Duration, Fn, IStableStringProducer, Lazy, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

#: The health alarms' query; Metrics Insights' WHERE knows only =, != and AND.
HEALTH_QUERY = (
    'SELECT MIN(HealthyHostCount) FROM SCHEMA("{namespace}", LoadBalancer, '
    "TargetGroup){where} GROUP BY LoadBalancer, TargetGroup ORDER BY MIN() ASC"
)
HEALTH_NAMESPACES = {"Alb": "AWS/ApplicationELB", "Nlb": "AWS/NetworkELB"}

_Alarm = tuple[
    str,
    str,
    cloudwatch.IMetric,
    int,
    int,
    cloudwatch.ComparisonOperator,
    cloudwatch.TreatMissingData,
]


def tgsync_metric(name: str, statistic: str) -> cloudwatch.Metric:
    """One of the metrics the function writes, per minute."""
    return cloudwatch.Metric(
        namespace="tgsync",
        metric_name=name,
        dimensions_map={"service": "tgsync"},
        statistic=statistic,
        period=Duration.minutes(1),
    )


def add_alarms(
    scope: Construct,
    function: lambda_.IFunction,
    topic: sns.ITopic | None,
    health_query: Callable[[str], str],
) -> cloudwatch.Dashboard:
    """The alarms (notifying ``topic`` when given) and the dashboard (returned), in
    ``scope``. ``health_query(namespace)`` gives a no-healthy-target alarm's query; it
    is called at synth time, once every mapping is known."""
    alarms: list[_Alarm] = [
        (
            "ErrorsAlarm",
            "tgsync failed 3 minutes running (see its log)",
            function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            1,
            3,
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            cloudwatch.TreatMissingData.NOT_BREACHING,
        ),
        (
            "NotRunningAlarm",
            "tgsync has not run for 5 minutes",
            function.metric_invocations(period=Duration.minutes(5), statistic="Sum"),
            1,
            1,
            cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            cloudwatch.TreatMissingData.BREACHING,
        ),
        (
            "ResolutionFailuresAlarm",
            "a hostname has not resolved for 3 minutes",
            tgsync_metric("ResolutionFailures", "Sum"),
            1,
            3,
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            cloudwatch.TreatMissingData.NOT_BREACHING,
        ),
        *health_alarms(health_query),
    ]
    dashboard = add_dashboard(scope, function)
    for name, text, measured, threshold, periods, comparison, missing in alarms:
        alarm = cloudwatch.Alarm(
            scope,
            name,
            alarm_description=text,
            metric=measured,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        if topic is not None:
            alarm.add_alarm_action(actions.SnsAction(topic))
    return dashboard


def health_alarms(health_query: Callable[[str], str]) -> list[_Alarm]:
    """The no-healthy-target alarms, one per load balancer kind.

    ELB's own HealthyHostCount, every minute for every group, settled or not
    (tgsync's MinHealthyTargets only counts the groups it reads in a cycle).
    """
    alarms: list[_Alarm] = []
    for kind, namespace in HEALTH_NAMESPACES.items():
        query = Produce(partial(health_query, namespace))
        alarms.append(
            (
                f"NoHealthyTarget{kind}Alarm",
                f"A target group ({namespace}) has had no healthy target for 3 minutes: the "
                "load balancer now fails open to unhealthy targets. Check the backend and "
                "the health check.",
                cloudwatch.MathExpression(
                    expression=Lazy.string(query),
                    label=f"MIN(HealthyHostCount) {namespace}",
                    period=Duration.minutes(1),
                    using_metrics={},
                ),
                1,
                3,
                cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
    return alarms


def add_dashboard(scope: Construct, function: lambda_.IFunction) -> cloudwatch.Dashboard:
    """The dashboard (``Dashboard`` in ``scope``): targets, changes, failures, function."""
    dashboard = cloudwatch.Dashboard(scope, "Dashboard")
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title="Targets wanted; registered and healthy in the groups read",
            left=[
                *(
                    tgsync_metric(name, "Average")
                    for name in ("Wanted", "Registered", "HealthyTargets")
                ),
                tgsync_metric("MinHealthyTargets", "Minimum"),
            ],
        ),
        cloudwatch.GraphWidget(
            title="Registrations and retirements",
            left=[tgsync_metric(name, "Sum") for name in ("Registrations", "Deregistrations")],
        ),
        cloudwatch.GraphWidget(
            title="Failures",
            left=[
                *(
                    tgsync_metric(name, "Sum")
                    for name in (
                        "ResolutionFailures",
                        "MappingFailures",
                        "RefusedAnswers",
                        "ChangeEventsFailed",
                    )
                ),
                function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            ],
        ),
        cloudwatch.GraphWidget(
            title="Function",
            left=[
                function.metric_duration(period=Duration.minutes(1), statistic="p99"),
                function.metric_invocations(period=Duration.minutes(1), statistic="Sum"),
                function.metric_throttles(period=Duration.minutes(1), statistic="Sum"),
            ],
        ),
    )
    return dashboard


def health_query(
    namespace: str, mappings: Sequence[Mapping[str, Any]], discover: bool, health_filter: str | None
) -> str:
    """A no-healthy-target alarm's query: the one group kept (one mapping, no
    discovery), else the filter given, else every group of the region behind a load
    balancer."""
    where = ""
    if len(mappings) == 1 and not discover:
        where = f" WHERE TargetGroup = '{full_name(mappings[0]['target_group_arn'])}'"
    if health_filter is not None:
        where = f" WHERE {health_filter.strip()}"
    return HEALTH_QUERY.format(namespace=namespace, where=where)


def full_name(arn: str) -> str:
    """A target group's ``targetgroup/name/id``, as ELB's metrics name it."""
    if Token.is_unresolved(arn):
        return Fn.select(5, Fn.split(":", arn))
    return arn.split(":", 5)[5]


def add_dead_letter_alarm(scope: Construct, queue: sqs.IQueue) -> cloudwatch.Alarm:
    """``EventDeadLettersAlarm`` in ``scope``: an event sits in the dead-letter queue."""
    return cloudwatch.Alarm(
        scope,
        "EventDeadLettersAlarm",
        alarm_description="An OpenSearch or RDS event could not be delivered to tgsync (see "
        "the dead-letter queue); the schedule still converges.",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ),
        threshold=0,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


@jsii.implements(IStableStringProducer)
class Produce:
    """A string known at synth time only, for :meth:`Lazy.string`."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        """The string, now that the construct is complete."""
        return self._produce()
