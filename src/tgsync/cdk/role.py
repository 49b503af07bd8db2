"""The function's role: least privilege, as the stack's (``deploy/tgsync.yaml``).

It reads every target group (the describe calls allow no narrower resource), writes
targets and tgsync's memory tags only on the groups kept (or, with discovery, on the
groups that ask for it), and manages the function's network interfaces only in its
own subnets and security groups. With ``resolve="rds"`` (the function's or a
mapping's, or discovery, whose groups may ask for it) it reads the RDS clusters' members,
and with ``rds_role_arn`` (the function's or a mapping's) it may assume exactly those
roles, for clusters in other accounts. With ``event_bus`` it may put the change events
on that one bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, CfnCondition, Fn, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from tgsync.changes import OPERATIONS as EVENTS_OPERATIONS
from tgsync.memory_codec import OWN_TAG_KEYS
from tgsync.provider.elbv2 import READ_OPERATIONS, WRITE_OPERATIONS
from tgsync.provider.kms import OPERATIONS as KMS_OPERATIONS

#: The tag keys tgsync writes on a group: its memory of when an IP went missing, and
#: which targets it registered (retire=owned).
MEMORY_TAG_KEYS = list(OWN_TAG_KEYS)


def elb_actions(*operations: str) -> list[str]:
    """The IAM actions of these ELBv2 operations."""
    return [f"elasticloadbalancing:{operation}" for operation in operations]


#: The calls the provider makes: the role allows exactly these (as the stack's does).
ELB_ACTIONS_READ = elb_actions(*READ_OPERATIONS)
ELB_ACTIONS_WRITE = elb_actions(*WRITE_OPERATIONS)
#: Of the writes, the ones that change targets; the rest write tgsync's memory tags.
ELB_ACTIONS_TARGETS = elb_actions("RegisterTargets", "DeregisterTargets")
ELB_ACTIONS_TAGS = [action for action in ELB_ACTIONS_WRITE if action not in ELB_ACTIONS_TARGETS]


def function_role(scope: Construct) -> iam.Role:
    """The role (``Role`` in ``scope``) that Lambda of this account only may assume."""
    return iam.Role(
        scope,
        "Role",
        description="tgsync function role, least privilege",
        assumed_by=iam.ServicePrincipal(
            "lambda.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}},
        ),
    )


def add_base_statements(
    role: iam.Role,
    log_group_arn: str,
    subnet_ids: Sequence[str],
    groups: Sequence[ec2.ISecurityGroup],
) -> None:
    """What AWSLambdaVPCAccessExecutionRole grants, narrowed to this function."""
    stack = Stack.of(role)

    def ec2_arn(kind: str, name: str) -> str:
        return stack.format_arn(service="ec2", resource=kind, resource_name=name)

    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteOwnLogGroupOnly",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group_arn],
        )
    )
    # Lambda manages the function's network interfaces with its role. Describe calls
    # support no resource-level permissions, so they stay on "*".
    role.add_to_policy(
        iam.PolicyStatement(
            sid="DescribeNetworkInterfaces",
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            resources=["*"],
        )
    )
    # A new interface is named by its subnet and security groups: only the function's.
    # The interface itself has no ID yet, hence network-interface/* of this account
    # and region.
    role.add_to_policy(
        iam.PolicyStatement(
            sid="CreateInterfacesInOwnSubnetsOnly",
            actions=["ec2:CreateNetworkInterface"],
            resources=[
                ec2_arn("network-interface", "*"),
                *(ec2_arn("subnet", subnet) for subnet in subnet_ids),
                *(ec2_arn("security-group", group.security_group_id) for group in groups),
            ],
        )
    )
    # Lambda deletes and re-addresses interfaces whose IDs no template can know; its
    # guide asks for every interface ID (a narrower one can cut the function off
    # its VPC): this account and region's, in the function's subnets only (ec2:Subnet,
    # a condition key of EC2's network-interface resource).
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ManageInterfacesInOwnSubnets",
            actions=[
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            resources=[ec2_arn("network-interface", "*")],
            conditions={
                "ArnLike": {"ec2:Subnet": [ec2_arn("subnet", subnet) for subnet in subnet_ids]}
            },
        )
    )


def add_read_statement(role: iam.Role) -> None:
    """The provider's reads, on every group: they support no resource-level permissions."""
    role.add_to_policy(
        iam.PolicyStatement(sid="ObserveTargetGroups", actions=ELB_ACTIONS_READ, resources=["*"])
    )


def write_statements() -> tuple[iam.PolicyStatement, iam.PolicyStatement]:
    """The target writes and the memory-tag writes, on no group yet: each mapping adds
    its group with :func:`allow_writes`."""
    writes = iam.PolicyStatement(sid="ChangeOnlyTheKeptTargetGroups", actions=ELB_ACTIONS_TARGETS)
    tag_writes = iam.PolicyStatement(
        sid="WriteOnlyOwnMemoryTagsOnTheKeptGroups",
        actions=ELB_ACTIONS_TAGS,
        conditions={"ForAllValues:StringLike": {"aws:TagKeys": MEMORY_TAG_KEYS}},
    )
    return writes, tag_writes


def allow_writes(
    role: iam.Role,
    statements: tuple[iam.PolicyStatement, iam.PolicyStatement],
    target_group_arn: str,
) -> None:
    """Add a kept group to the :func:`write_statements`, and them to the role at the
    first group (a statement with no resource is invalid)."""
    writes, tag_writes = statements
    if not writes.resources:
        role.add_to_policy(writes)
        role.add_to_policy(tag_writes)
    writes.add_resources(target_group_arn)
    tag_writes.add_resources(target_group_arn)


def add_discovery_statements(role: iam.Role, owner: str | None, prefix: str | None) -> None:
    """Writes on groups that carry tgsync:hostname (and this owner, or none), whose
    name starts with ``prefix`` (``*``: any name, chosen explicitly)."""
    stack = Stack.of(role)
    start = "" if prefix in (None, "*") else prefix
    groups = stack.format_arn(
        service="elasticloadbalancing", resource="targetgroup", resource_name=f"{start}*"
    )
    tagged = {"aws:ResourceTag/tgsync:hostname": "false"}
    owned: dict[str, Any]
    if owner is not None:
        owned = {"StringEquals": {"aws:ResourceTag/tgsync:owner": owner}}
        asks = {"Null": tagged, **owned}
    else:
        owned = {"Null": {"aws:ResourceTag/tgsync:owner": "true"}}
        asks = {"Null": {**tagged, **owned["Null"]}}
    own_keys = {"ForAllValues:StringLike": {"aws:TagKeys": MEMORY_TAG_KEYS}}
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ChangeOnlyGroupsThatAskForIt",
            actions=ELB_ACTIONS_TARGETS,
            resources=[groups],
            conditions=asks,
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteOnlyOwnMemoryTagsOnThoseGroups",
            actions=elb_actions("AddTags"),
            resources=[groups],
            conditions={**asks, **own_keys},
        )
    )
    # Letting go happens after the user removed tgsync:hostname, so removing the
    # memory tags asks for no hostname tag; the owner still has to match.
    role.add_to_policy(
        iam.PolicyStatement(
            sid="RemoveOnlyOwnMemoryTags",
            actions=elb_actions("RemoveTags"),
            resources=[groups],
            conditions={**owned, **own_keys},
        )
    )


#: The RDS reads of ``resolve=rds`` (tgsync.source.rds): the role allows exactly these.
RDS_ACTIONS = [
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterEndpoints",
]


def add_rds_statements(role: iam.Role) -> None:
    """The RDS reads, as the stack's, on every cluster, instance and cluster endpoint of
    this account and region: a mapping may name any cluster (the event sources only
    route events), tgsync reads the members with a db-cluster-id filter and a custom
    endpoint by its name, which RDS authorizes on ``db:*`` and ``cluster:*``. Read-only."""
    stack = Stack.of(role)

    def rds_arn(kind: str) -> str:
        return stack.format_arn(
            service="rds",
            resource=kind,
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadTheClusters", actions=RDS_ACTIONS[:1], resources=[rds_arn("cluster")]
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadMembersAndCustomEndpoints",
            actions=RDS_ACTIONS[1:],
            resources=[rds_arn("db"), rds_arn("cluster"), rds_arn("cluster-endpoint")],
        )
    )


def assume_statement() -> iam.PolicyStatement:
    """``sts:AssumeRole`` on no role yet: each ``rds_role_arn`` given adds its role with
    :func:`allow_assume`, and no other role (never one a tag names) is ever added."""
    return iam.PolicyStatement(sid="AssumeTheRdsReadRoles", actions=["sts:AssumeRole"])


def allow_assume(role: iam.Role, statement: iam.PolicyStatement, role_arn: str) -> None:
    """Add ``role_arn`` to the :func:`assume_statement`, and it to the role at the first
    (a statement with no resource is invalid)."""
    if not statement.resources:
        role.add_to_policy(statement)
    if role_arn not in statement.resources:
        statement.add_resources(role_arn)


#: The record key's operations, the role's and no one else's.
MAC_ACTIONS = [f"kms:{operation}" for operation in KMS_OPERATIONS]
#: What the account may do with a key the construct makes: manage it, never use it (a key
#: policy that named the account for use would let any IAM policy grant it).
KEY_ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]


def add_record_key(
    scope: Construct, role: iam.Role, given: str | kms.IKey | bool | None
) -> str | None:
    """The record key's ARN (``TGSYNC_RECORD_KEY``): a key made here (``True``) whose
    policy lets only ``role`` generate and verify MACs, or a key (or ARN) given, on which
    the role may do those two; ``None``: no key."""
    if given is None or given is False:
        return None
    if given is True:
        account = Stack.of(scope).account
        key = kms.Key(
            scope,
            "RecordKey",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            description="tgsync signs its ownership records (tgsync:owned:* tags)",
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="AdministerNotUse",
                        actions=KEY_ADMIN_ACTIONS,
                        principals=[iam.AccountPrincipal(account)],
                        resources=["*"],
                    ),
                    iam.PolicyStatement(
                        sid="OnlyTheFunctionSigns",
                        actions=MAC_ACTIONS,
                        principals=[role],
                        resources=["*"],
                    ),
                ]
            ),
        )
        return key.key_arn
    arn = given if isinstance(given, str) else given.key_arn
    role.add_to_policy(
        iam.PolicyStatement(sid="SignOwnershipRecords", actions=MAC_ACTIONS, resources=[arn])
    )
    return arn


#: The change events' one call (:mod:`tgsync.changes`): the role allows exactly this.
EVENTS_ACTIONS = [f"events:{operation}" for operation in EVENTS_OPERATIONS]


def event_bus_arn(scope: Construct, bus: str) -> str:
    """The ARN of ``bus``, given by its ARN or by its name (this account and region's
    bus); a token is decided at deploy time the way the stack decides (a name holds no
    colon)."""
    named = Stack.of(scope).format_arn(service="events", resource="event-bus", resource_name=bus)
    if not Token.is_unresolved(bus):
        return bus if bus.startswith("arn:") else named
    is_arn = CfnCondition(
        scope,
        "EventBusIsArn",
        expression=Fn.condition_not(Fn.condition_equals(Fn.select(0, Fn.split(":", bus)), bus)),
    )
    return Token.as_string(Fn.condition_if(is_arn.logical_id, bus, named))


def add_events_statement(role: iam.Role, bus_arn: str) -> None:
    """``events:PutEvents`` on the change events' bus, and no other (the keyword names
    it: never a tag)."""
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PutChangeEventsOnTheBusOnly", actions=EVENTS_ACTIONS, resources=[bus_arn]
        )
    )
