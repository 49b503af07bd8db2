"""The construct :class:`HostnameTargetSync`: the function and what it needs, put
together from the package's parts (environment, role, network, triggers, alarms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from tgsync.cdk.alarms import add_alarms, health_query
from tgsync.cdk.checkov import skip_checks
from tgsync.cdk.environment import (
    KEYWORD_SETTINGS,
    check_health_alarm_filter,
    check_keyword,
    check_log_level,
    check_memory_size,
    check_schedule,
    check_targets,
    discover_on,
    mapping_entry,
    mapping_hostname,
    setting_variables,
)
from tgsync.cdk.function import HANDLER, TIMEOUT, built_code, bus_text, function_skips
from tgsync.cdk.network import (
    NeedsRole,
    elb_endpoint,
    events_endpoint,
    function_security_group,
    kms_endpoint,
    rds_endpoint,
    rds_role_reads,
    restrict_egress,
    sts_endpoint,
    subnet_selection,
)
from tgsync.cdk.role import (
    add_base_statements,
    add_discovery_statements,
    add_events_statement,
    add_rds_statements,
    add_read_statement,
    add_record_key,
    allow_assume,
    allow_writes,
    assume_statement,
    event_bus_arn,
    function_role,
    write_statements,
)
from tgsync.cdk.triggers import (
    add_event_sources,
    add_schedule,
    event_sources,
)
from tgsync.settings import setting


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

    ``event_source_arns`` (OpenSearch domain, RDS DB cluster and RDS DB instance ARNs;
    ``domain_arns`` still takes domains) route their events to the function. With
    ``resolve="rds"`` (this keyword, or a mapping's given to :meth:`add_mapping`) or
    discovery, the role reads the RDS clusters' members (every cluster of the account
    and region: the event sources only route events), and ``create_rds_endpoint`` adds
    the ``rds`` interface endpoint for subnets with no other way to the RDS API.

    ``code_signing_config_arn`` (a Lambda code signing configuration's ARN) makes Lambda
    check the code's signature at every deployment. The zip the construct builds is
    not signed: give ``code`` the signed object (AWS Signer's output in S3, by its
    version) when the configuration's policy is ``Enforce``; with ``Warn`` Lambda
    deploys the unsigned zip and logs a warning.

    ``rds_role_arn`` (this keyword, or a mapping's) is a role in another account read
    as for its clusters: the function's role may assume exactly the roles given, and
    ``create_sts_endpoint`` adds the ``sts`` interface endpoint, which serves only
    assuming them (and the ``rds`` endpoint then admits their reads).

    ``record_key`` signs the ownership records (``TGSYNC_RECORD_KEY``): ``True`` makes an
    HMAC key whose policy lets only the function's role generate and verify MACs; a key
    or key ARN given is used, the role granted those two operations on it.
    ``create_kms_endpoint`` adds the ``kms`` interface endpoint, which serves only them.

    ``event_bus`` (an :class:`~aws_cdk.aws_events.IEventBus`, or a bus's name or ARN)
    gets an event for every registration, retirement, refusal and foreign target seen:
    the role may put events on that bus only, and ``create_events_endpoint`` adds the
    ``events`` interface endpoint, which serves only that.
    """

    #: Whether the role has the RDS reads (granted once, by the first user of them).
    _reads_rds = False

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
        retire: str | None = None,
        resolve: str | None = None,
        rds_role_arn: str | None = None,
        record_key: str | kms.IKey | bool | None = None,
        dry_run: bool | None = None,
        concurrency: int | None = None,
        api_rate: float | None = None,
        resync_every: Duration | float | None = None,
        follow_interval: Duration | float | None = None,
        follow_for: Duration | float | None = None,
        event_bus: events.IEventBus | str | None = None,
        discover: bool | str | None = None,
        owner: str | None = None,
        discover_prefix: str | None = None,
        discover_every: Duration | float | None = None,
        outside_vpc: bool | str | None = None,
        domain_arns: Sequence[str] = (),
        event_source_arns: Sequence[str] = (),
        schedule: Duration | None = None,
        memory_size: int = 256,
        architecture: lambda_.Architecture | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_encryption_key: kms.IKey | None = None,
        log_level: str = "INFO",
        alarm_topic: sns.ITopic | None = None,
        health_alarm_filter: str | None = None,
        create_elb_endpoint: bool = False,
        create_rds_endpoint: bool = False,
        create_sts_endpoint: bool = False,
        create_kms_endpoint: bool = False,
        create_events_endpoint: bool = False,
        code: lambda_.Code | None = None,
        code_signing_config_arn: str | None = None,
    ) -> None:
        arguments = locals()  # first: the keywords only, read by the table's names
        super().__init__(scope, construct_id)
        arguments["event_bus"] = bus_text(event_bus)
        # port is the first mapping's (a key of TGSYNC_MAPPINGS), not the function's.
        variables = setting_variables(
            {
                item.cdk: arguments[item.cdk]
                for item in KEYWORD_SETTINGS
                if item.cdk
                and item.cdk != "port"
                and not (item.cdk == "record_key" and not isinstance(record_key, str))
            }
        )
        on = discover_on(discover)
        every = schedule or Duration.minutes(1)
        check_schedule(every)
        check_log_level(log_level)
        check_memory_size(memory_size)
        check_health_alarm_filter(health_alarm_filter)
        domains, rds_arns = event_sources(domain_arns, event_source_arns)
        check_targets(
            hostname=hostname is not None,
            target_group=target_group is not None,
            port=port is not None,
            discover=on,
        )
        arch = architecture or lambda_.Architecture.ARM_64
        self._mappings: list[dict[str, Any]] = []
        self._discover = on
        self._resolve = variables.get(setting("resolve").env, "dns")
        self._health_filter = health_alarm_filter

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, encryption_key=log_encryption_key
        )
        subnets = vpc.select_subnets(**subnet_selection(vpc_subnets))
        groups = self._function_groups(vpc, security_groups)
        self.role = function_role(self)
        self.record_key_arn = add_record_key(self, self.role, record_key)
        if self.record_key_arn is not None:
            variables[setting("record_key").env] = self.record_key_arn
        add_base_statements(self.role, self.log_group.log_group_arn, subnets.subnet_ids, groups)
        add_read_statement(self.role)
        self._writes = write_statements()
        self._assume = assume_statement()
        self.rds_endpoint: ec2.InterfaceVpcEndpoint | None = None
        self.function = lambda_.Function(
            self,
            "Function",
            description="Keeps ELBv2 ip target groups pointed at hostnames (tgsync)",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=arch,
            handler=HANDLER,
            code=code or built_code(arch),
            role=self.role,
            memory_size=memory_size,
            timeout=TIMEOUT,
            reserved_concurrent_executions=1,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=groups,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            environment={
                **variables,
                "POWERTOOLS_SERVICE_NAME": "tgsync",
                "POWERTOOLS_METRICS_NAMESPACE": "tgsync",
                "POWERTOOLS_LOG_LEVEL": log_level,
            },
            code_signing_config=None
            if code_signing_config_arn is None
            else lambda_.CodeSigningConfig.from_code_signing_config_arn(
                self, "CodeSigningConfig", code_signing_config_arn
            ),
        )
        skip_checks(self.function, function_skips(signed=code_signing_config_arn is not None))
        skip_checks(
            self.log_group,
            {
                "CKV_AWS_158": "CloudWatch Logs encrypts every log group at rest; the logs hold "
                "IPs and ARNs, no secrets."
            },
        )
        # A tick that could not run within a minute is worthless: drop it, never retry.
        self.function.configure_async_invoke(max_event_age=Duration.seconds(60), retry_attempts=0)
        if on:
            add_discovery_statements(
                self.role, owner, variables.get(setting("discover_prefix").env)
            )
        # resolve=rds is possible: the function's own, or a discovered group's tag
        # (a mapping's own: add_mapping).
        if on or variables.get(setting("resolve").env) == "rds":
            self._grant_rds_reads()
        if rds_role_arn is not None:
            self._grant_assume(rds_role_arn)
        self._grant_events(event_bus, create_events_endpoint)
        if hostname is not None and target_group is not None:
            self.add_mapping(hostname, target_group, port)
        add_schedule(self, self.function, every)
        if domains or rds_arns:
            self.dead_letter_queue = add_event_sources(self, self.function, domains, rds_arns)
        self.dashboard = add_alarms(self, self.function, alarm_topic, self._health_query)
        self._add_endpoints(
            vpc,
            vpc_subnets,
            groups,
            (
                create_elb_endpoint,
                create_rds_endpoint,
                create_sts_endpoint,
                create_kms_endpoint,
                create_events_endpoint,
            ),
            variables.get(setting("dns_servers").env),
        )

    def _function_groups(
        self, vpc: ec2.IVpc, given: Sequence[ec2.ISecurityGroup] | None
    ) -> list[ec2.ISecurityGroup]:
        """The function's security groups: those given, or one of its own
        (``self.security_group``, whose egress the construct then restricts)."""
        self.security_group: ec2.SecurityGroup | None = None
        if given is not None:
            return list(given)
        self.security_group = function_security_group(self, vpc)
        return [self.security_group]

    def _add_endpoints(
        self,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        groups: Sequence[ec2.ISecurityGroup],
        create: tuple[bool, bool, bool, bool, bool],
        dns_servers: str | None,
    ) -> None:
        """The interface endpoints asked for (elasticloadbalancing, rds, sts, kms,
        events), and the function's own security group's egress to them and to DNS."""
        create_elb, create_rds, create_sts, create_kms, create_events = create
        self.elb_endpoint: ec2.InterfaceVpcEndpoint | None = None
        endpoint_group = rds_group = sts_group = events_group = None
        if create_elb:
            self.elb_endpoint, endpoint_group = elb_endpoint(self, vpc, vpc_subnets, groups)
        if create_rds:
            self.rds_endpoint, rds_group = rds_endpoint(self, vpc, vpc_subnets, groups)
            if self._assume.resources:
                rds_role_reads(self.rds_endpoint, self._assume)
        self.sts_endpoint: ec2.InterfaceVpcEndpoint | None = None
        if create_sts:
            self.sts_endpoint, sts_group = sts_endpoint(
                self, vpc, vpc_subnets, groups, self._assume
            )
            self.node.add_validation(NeedsRole(self._assume))
        self.kms_endpoint: ec2.InterfaceVpcEndpoint | None = None
        kms_group = None
        if create_kms:
            if self.record_key_arn is None:
                raise ValueError(
                    "create_kms_endpoint=True serves the record key only: give "
                    "record_key (True makes one), or drop create_kms_endpoint"
                )
            self.kms_endpoint, kms_group = kms_endpoint(
                self, vpc, vpc_subnets, groups, self.record_key_arn
            )
        self.events_endpoint: ec2.InterfaceVpcEndpoint | None = None
        if create_events and self._event_bus_arn is not None:
            self.events_endpoint, events_group = events_endpoint(
                self, vpc, vpc_subnets, groups, self._event_bus_arn
            )
        if self.security_group is not None:
            restrict_egress(
                self.security_group,
                vpc,
                endpoint_group,
                dns_servers,
                {"rds": rds_group, "sts": sts_group, "kms": kms_group, "events": events_group},
            )

    def add_mapping(
        self,
        hostname: str,
        target_group: elbv2.ITargetGroup,
        port: int | None = None,
        *,
        alb_id: str | None = None,
        dns_servers: Sequence[str] | None = None,
        lookups: int | None = None,
        stale_after: Duration | float | None = None,
        allowed_cidrs: Sequence[str] | None = None,
        policy: str | None = None,
        resolve: str | None = None,
        retire: str | None = None,
        rds_role_arn: str | None = None,
    ) -> None:
        """Keep one more target group pointed at ``hostname`` (a string or a token),
        on ``port`` (default: the group's own).

        The other keywords are this mapping's own settings (keys of its
        ``TGSYNC_MAPPINGS`` entry), checked as the function checks them; unset ones
        take the construct's. ``resolve="rds"`` (or a token) grants the role the RDS
        reads, e.g. a reader group on ``rds`` beside a writer group on ``dns`` with
        ``stale_after=0``; ``rds_role_arn`` lets the role assume that role (a cluster in
        another account)."""
        given = {
            key: value
            for key, value in locals().items()
            if key not in ("self", "hostname", "target_group")
        }
        entry: dict[str, Any] = {
            "hostname": mapping_hostname(hostname),
            "target_group_arn": target_group.target_group_arn,
            **mapping_entry(given),
        }
        if (
            rds_role_arn is not None
            and not Token.is_unresolved(resolve or "")
            and (resolve or self._resolve) != "rds"
        ):
            raise ValueError(
                "rds_role_arn applies to resolve='rds' only (the RDS reads): "
                "give resolve='rds' too, or drop rds_role_arn"
            )
        self._mappings.append(entry)
        allow_writes(self.role, self._writes, target_group.target_group_arn)
        # A token may be rds: the function learns it at run time, the role now.
        if resolve is not None and (
            Token.is_unresolved(resolve) or check_keyword("resolve", resolve, resolve) == "rds"
        ):
            self._grant_rds_reads()
        if rds_role_arn is not None:
            self._grant_assume(rds_role_arn)
        self.function.add_environment(
            setting("mappings").env, Stack.of(self).to_json_string(self._mappings)
        )

    def _grant_events(self, bus: events.IEventBus | str | None, endpoint: bool) -> None:
        """``events:PutEvents`` on the change events' bus, if one is given (the events
        ``endpoint`` serves only that: it needs one)."""
        self._event_bus_arn: str | None = None  # an IEventBus is its ARN: no guess
        if bus is not None:
            self._event_bus_arn = (
                event_bus_arn(self, bus) if isinstance(bus, str) else bus.event_bus_arn
            )
        if self._event_bus_arn is not None:
            add_events_statement(self.role, self._event_bus_arn)
        elif endpoint:
            raise ValueError(
                "create_events_endpoint=True serves putting change events on "
                "event_bus only: give event_bus, or drop create_events_endpoint"
            )

    def _grant_rds_reads(self) -> None:
        """The RDS reads, once, when some mapping may resolve rds."""
        if not self._reads_rds:
            add_rds_statements(self.role)
            self._reads_rds = True

    def _grant_assume(self, role_arn: str) -> None:
        """sts:AssumeRole on ``role_arn`` (a keyword, never a tag): the first one also
        lets the roles' sessions through the rds endpoint, if there is one."""
        first = not self._assume.resources
        allow_assume(self.role, self._assume, role_arn)
        if first and self.rds_endpoint is not None:
            rds_role_reads(self.rds_endpoint, self._assume)

    def _health_query(self, namespace: str) -> str:
        """The no-healthy-target alarm's query, once every mapping is known."""
        return health_query(namespace, self._mappings, self._discover, self._health_filter)
