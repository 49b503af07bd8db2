"""Example CDK app: an internal HTTPS ALB in front of an OpenSearch domain in a VPC.

    cd deploy/cdk
    npx aws-cdk@2 synth -c vpc_id=vpc-0aaaaaaaaaaaaaaaa \\
        -c domain_endpoint=vpc-logs-abc123.eu-west-1.es.amazonaws.com \\
        -c domain_security_group_id=sg-0cccccccccccccccc \\
        -c certificate_arn=arn:aws:acm:eu-west-1:111122223333:certificate/... \\
        -c client_cidr=10.20.0.0/16 -c account=111122223333 -c region=eu-west-1

The VPC is looked up by its ID: ``cdk synth`` asks AWS once and keeps the answer in
``cdk.context.json``, which holds a placeholder VPC's so that the example synthesises
offline; delete that entry when you give your own ``vpc_id``.
Every other value comes from the context too, with placeholders for a dry look.
``python app.py`` with ``CDK_OUTDIR`` set does what ``cdk synth`` runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, CfnResource, Duration, Environment, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from tgsync.cdk import HostnameTargetSync

PLACEHOLDERS = {
    "vpc_id": "vpc-0aaaaaaaaaaaaaaaa",
    "domain_endpoint": "vpc-logs-abc123.eu-west-1.es.amazonaws.com",
    "domain_security_group_id": "sg-0cccccccccccccccc",
    "certificate_arn": "arn:aws:acm:eu-west-1:111122223333:certificate/"
    "00000000-0000-0000-0000-000000000000",
    "client_cidr": "10.20.0.0/16",
    "account": "111122223333",
    "region": "eu-west-1",
}


class OpenSearchBehindAlb(Stack):
    """Internal ALB (HTTPS) -> ip target group -> the domain's IPs, kept by tgsync."""

    def __init__(
        self, scope: Construct, construct_id: str, settings: dict[str, str], **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings["vpc_id"])
        # Nothing here needs the internet: the ALB is internal, the domain is in the VPC,
        # and tgsync reaches the ELB API through the interface endpoint it creates (its
        # logs go through Lambda itself). So isolated subnets, no NAT.
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

        alb_group = ec2.SecurityGroup(
            self,
            "AlbSecurityGroup",
            vpc=vpc,
            description="internal ALB: HTTPS from the clients",
            allow_all_outbound=False,
        )
        alb_group.add_ingress_rule(
            ec2.Peer.ipv4(settings["client_cidr"]), ec2.Port.tcp(443), "HTTPS from the clients"
        )
        domain_group = ec2.SecurityGroup.from_security_group_id(
            self,
            "DomainSecurityGroup",
            settings["domain_security_group_id"],
            allow_all_outbound=False,
        )
        alb_group.add_egress_rule(domain_group, ec2.Port.tcp(443), "HTTPS to the domain")
        domain_group.add_ingress_rule(alb_group, ec2.Port.tcp(443), "HTTPS from the ALB")

        balancer = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            vpc_subnets=private,
            internet_facing=False,
            security_group=alb_group,
            drop_invalid_header_fields=True,
        )
        alb = balancer.node.default_child
        if isinstance(alb, CfnResource):
            alb.add_metadata(
                "checkov",
                {
                    "skip": [
                        {
                            "id": "CKV_AWS_91",
                            "comment": "Access logs need a bucket policy for the ELB "
                            "account; add one in production.",
                        },
                        {
                            "id": "CKV_AWS_150",
                            "comment": "An example stack must be removable; turn "
                            "deletion protection on in production.",
                        },
                        {
                            "id": "CKV2_AWS_28",
                            "comment": "Internal ALB reachable only from the "
                            "clients; add AWS WAF if policy requires.",
                        },
                    ]
                },
            )
        group = elbv2.ApplicationTargetGroup(
            self,
            "Domain",
            vpc=vpc,
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            target_type=elbv2.TargetType.IP,
            # Fine-grained access control answers 401 without credentials: still alive.
            health_check=elbv2.HealthCheck(
                path="/_dashboards/api/status",
                protocol=elbv2.Protocol.HTTPS,
                healthy_http_codes="200-401",
            ),
        )
        balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            open=False,
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            certificates=[
                acm.Certificate.from_certificate_arn(
                    self, "Certificate", settings["certificate_arn"]
                )
            ],
            default_target_groups=[group],
        )

        # create_elb_endpoint: leave it out if the VPC has an elasticloadbalancing
        # endpoint already (the function's security group then allows HTTPS to the VPC).
        HostnameTargetSync(
            self,
            "OpenSearch",
            hostname=settings["domain_endpoint"],
            target_group=group,
            vpc=vpc,
            vpc_subnets=private,
            follow_interval=Duration.seconds(10),
            create_elb_endpoint=True,
        )


def main() -> None:
    # `cdk synth` passes cdk.context.json in CDK_CONTEXT_JSON; run directly, read it here.
    saved = Path(__file__).with_name("cdk.context.json")
    context = None if "CDK_CONTEXT_JSON" in os.environ else json.loads(saved.read_text())
    app = App(context=context)
    settings = {
        key: str(app.node.try_get_context(key) or default) for key, default in PLACEHOLDERS.items()
    }
    OpenSearchBehindAlb(
        app,
        "OpenSearchBehindAlb",
        settings,
        env=Environment(account=settings["account"], region=settings["region"]),
    )
    app.synth()


if __name__ == "__main__":
    main()
