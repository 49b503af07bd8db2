"""The function's network: its security group (HTTPS to the ELB API and DNS, nothing
else) and, when asked for, the ``elasticloadbalancing``, ``rds``, ``sts`` and ``events``
interface endpoints and their policies (this account's principals on this account's
resources only; through ``sts``, only assuming the ``rds_role_arn`` roles, whose
sessions may make the three RDS reads through ``rds``; through ``events``, only putting
the change events on their bus)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import Fn, IStableListProducer, Lazy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct, IValidation

from tgsync.cdk.role import EVENTS_ACTIONS, MAC_ACTIONS, RDS_ACTIONS
from tgsync.parsers import parse_nameservers


def subnet_selection(selection: ec2.SubnetSelection | None) -> dict[str, Any]:
    """A SubnetSelection as select_subnets' keywords (its Python form takes no struct)."""
    if selection is None:
        return {}
    return {
        "availability_zones": selection.availability_zones,
        "one_per_az": selection.one_per_az,
        "subnet_filters": selection.subnet_filters,
        "subnet_group_name": selection.subnet_group_name,
        "subnets": selection.subnets,
        "subnet_type": selection.subnet_type,
    }


def function_security_group(scope: Construct, vpc: ec2.IVpc) -> ec2.SecurityGroup:
    """The function's security group (``SecurityGroup`` in ``scope``), with no egress
    yet: :func:`restrict_egress` adds the only rules it gets."""
    return ec2.SecurityGroup(
        scope,
        "SecurityGroup",
        vpc=vpc,
        allow_all_outbound=False,
        description="tgsync function: HTTPS to the ELB API and DNS, nothing else",
    )


def elb_endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """The elasticloadbalancing interface endpoint and its security group: HTTPS from
    the function only, for this account's principals on this account's resources only."""
    return _endpoint(
        scope,
        vpc,
        vpc_subnets,
        groups,
        name="Elb",
        service=ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING,
        prefix="elasticloadbalancing",
    )


def rds_endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """The rds interface endpoint (for ``resolve="rds"``), as the elasticloadbalancing one."""
    return _endpoint(
        scope,
        vpc,
        vpc_subnets,
        groups,
        name="Rds",
        service=ec2.InterfaceVpcEndpointAwsService.RDS,
        prefix="rds",
    )


def sts_endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
    assume: iam.PolicyStatement,
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """The sts interface endpoint (for ``rds_role_arn``): HTTPS from the function only,
    this account's principals assuming the roles of ``assume`` (the function role's own
    statement, whose roles grow with each mapping) only."""
    return _endpoint(
        scope,
        vpc,
        vpc_subnets,
        groups,
        name="Sts",
        service=ec2.InterfaceVpcEndpointAwsService.STS,
        prefix="sts",
        only=("OnlyAssumingTheRdsRoles", ["sts:AssumeRole"], Lazy.list(_Resources(assume))),
    )


def kms_endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
    key_arn: str,
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """The kms interface endpoint (for ``record_key``): HTTPS from the function only,
    this account's principals generating and verifying MACs with the record key only."""
    return _endpoint(
        scope,
        vpc,
        vpc_subnets,
        groups,
        name="Kms",
        service=ec2.InterfaceVpcEndpointAwsService.KMS,
        prefix="kms",
        only=("OnlyTheRecordKeysMacs", MAC_ACTIONS, [key_arn]),
    )


def events_endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
    bus_arn: str,
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """The events interface endpoint (for ``event_bus``): HTTPS from the function only,
    this account's principals putting events on ``bus_arn`` only."""
    return _endpoint(
        scope,
        vpc,
        vpc_subnets,
        groups,
        name="Events",
        service=ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
        prefix="events",
        only=("OnlyPuttingOnTheChangeEventBus", EVENTS_ACTIONS, [bus_arn]),
    )


def rds_role_reads(endpoint: ec2.InterfaceVpcEndpoint, assume: iam.PolicyStatement) -> None:
    """Let the sessions of the roles of ``assume`` make tgsync's three RDS reads through
    the rds ``endpoint`` (their account is not this one), and nothing else."""
    endpoint.add_to_policy(
        iam.PolicyStatement(
            sid="TheRdsRolesReadOnly",
            principals=[iam.AnyPrincipal()],
            actions=RDS_ACTIONS,
            resources=["*"],
            conditions={"ArnEquals": {"aws:PrincipalArn": Lazy.list(_Resources(assume))}},
        )
    )


@jsii.implements(IStableListProducer)
class _Resources:
    """A statement's resources as they are at synth time, for :meth:`Lazy.list` (each
    mapping's ``rds_role_arn`` adds one after the endpoints are made)."""

    def __init__(self, statement: iam.PolicyStatement) -> None:
        self._statement = statement

    def produce(self) -> list[str] | None:
        """The resources."""
        return list(self._statement.resources)


def _endpoint(
    scope: Construct,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    groups: Sequence[ec2.ISecurityGroup],
    *,
    name: str,
    service: ec2.InterfaceVpcEndpointAwsService,
    prefix: str,
    only: tuple[str, Sequence[str], list[str]] | None = None,
) -> tuple[ec2.InterfaceVpcEndpoint, ec2.SecurityGroup]:
    """An interface endpoint that admits HTTPS from ``groups`` only, and through which
    this account's principals may do ``only`` (statement id, actions, resources), or,
    without it, any action of the service on this account's resources."""
    group = ec2.SecurityGroup(
        scope,
        f"{name}EndpointSecurityGroup",
        vpc=vpc,
        allow_all_outbound=False,
        description=f"{prefix} endpoint, HTTPS from the tgsync function only",
    )
    for source in groups:
        group.add_ingress_rule(source, ec2.Port.tcp(443), "HTTPS from the tgsync function")
    endpoint = ec2.InterfaceVpcEndpoint(
        scope,
        f"{name}Endpoint",
        vpc=vpc,
        service=service,
        subnets=vpc_subnets,
        private_dns_enabled=True,
        security_groups=[group],
        open=False,
    )  # open would admit the whole VPC CIDR
    account = Stack.of(scope).account
    actions: Sequence[str]
    if only is None:
        sid, actions, resources = "ThisAccountOnly", [f"{prefix}:*"], ["*"]
        conditions = {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}
    else:
        sid, actions, resources = only
        conditions = {"aws:PrincipalAccount": account}
    endpoint.add_to_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.AnyPrincipal()],
            actions=list(actions),
            resources=resources,
            conditions={"StringEquals": conditions},
        )
    )
    return endpoint, group


def restrict_egress(
    group: ec2.SecurityGroup,
    vpc: ec2.IVpc,
    endpoint: ec2.SecurityGroup | None,
    dns_servers: str | None,
    others: Mapping[str, ec2.SecurityGroup | None],
) -> None:
    """The function's security group: HTTPS to the ELB API (``endpoint``'s group, else
    the VPC) and to the other endpoints it was given (``rds``, ``sts``, ``events``: their
    groups), DNS to ``dns_servers`` (else the VPC resolver), nothing else."""
    for name, other in others.items():
        if other is not None:
            group.add_egress_rule(other, ec2.Port.tcp(443), f"HTTPS to the {name} endpoint")
    if endpoint is not None:
        group.add_egress_rule(
            endpoint, ec2.Port.tcp(443), "HTTPS to the elasticloadbalancing endpoint"
        )
    else:
        group.add_egress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block),
            ec2.Port.tcp(443),
            "HTTPS to the VPC's elasticloadbalancing endpoint",
        )
    if dns_servers is not None and not Token.is_unresolved(dns_servers):
        servers = [(server.address, server.port) for server in parse_nameservers(dns_servers)]
        peers = [
            (
                ec2.Peer.ipv6(f"{host}/128") if ":" in host else ec2.Peer.ipv4(f"{host}/32"),
                port,
                host,
            )
            for host, port in servers
        ]
    else:
        peers = [(ec2.Peer.ipv4(resolver(vpc.vpc_cidr_block)), 53, "the VPC resolver")]
    for peer, port, name in peers:
        group.add_egress_rule(peer, ec2.Port.udp(port), f"DNS to {name}")
        group.add_egress_rule(peer, ec2.Port.tcp(port), f"DNS over TCP to {name}")


def resolver(cidr: str) -> str:
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


@jsii.implements(IValidation)
class NeedsRole:
    """create_sts_endpoint serves assuming the rds_role_arn roles only: it needs one."""

    def __init__(self, assume: iam.PolicyStatement) -> None:
        self._assume = assume

    def validate(self) -> list[str]:
        """The problem, if no role was given (the construct's or a mapping's)."""
        return (
            []
            if self._assume.resources
            else [
                "create_sts_endpoint=True serves assuming rds_role_arn only: give rds_role_arn "
                "(here or to add_mapping), or drop create_sts_endpoint"
            ]
        )
