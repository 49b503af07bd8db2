"""The baseline: the original Go function's cycle, re-created call for call with boto3 and
run against the same servers as tgsync, so every figure is a ratio measured side by
side."""

from __future__ import annotations

import boto3
import dns.resolver

from testlab.peers import REGION


class Original:
    """The original Go function's cycle, call for call (see the seed article).

    Resolve and keep the first IPv4 answer; DescribeLoadBalancers; DescribeTargetGroups
    of that load balancer; DescribeTargetHealth to see if the IP is registered;
    RegisterTargets on port 443 if not; DescribeTargetHealth again; one
    DeregisterTargets per unhealthy target.
    """

    def __init__(
        self, hostname: str, alb_arn: str, target_group_arn: str, nameserver: tuple[str, int]
    ) -> None:
        self.hostname, self.alb_arn, self.arn = hostname, alb_arn, target_group_arn
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [nameserver[0]]
        self.resolver.port = nameserver[1]
        self.resolver.cache = None

    def cycle(self) -> None:
        """One invocation of the original function."""
        ip = self.resolver.resolve(self.hostname, "A")[0].to_text()
        lb = self.elbv2.describe_load_balancers(LoadBalancerArns=[self.alb_arn])
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        groups = self.elbv2.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
        arn = next(g["TargetGroupArn"] for g in groups if g["TargetGroupArn"] == self.arn)
        health = self.elbv2.describe_target_health(TargetGroupArn=arn)
        if not any(d["Target"]["Id"] == ip for d in health["TargetHealthDescriptions"]):
            self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 443}])
        health = self.elbv2.describe_target_health(TargetGroupArn=arn)
        for description in health["TargetHealthDescriptions"]:
            if description["TargetHealth"]["State"] == "unhealthy":
                self.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[description["Target"]])
