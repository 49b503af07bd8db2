"""An AWS CDK construct: a target group that follows a hostname (``tgsync[cdk]``).

::

    from tgsync.cdk import HostnameTargetSync

    HostnameTargetSync(self, "OpenSearch",
        hostname=domain.domain_endpoint,        # a string or a token
        target_group=target_group,              # an ip target group, ALB's or NLB's
        vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        create_elb_endpoint=True)               # unless the VPC has one

It synthesises what ``deploy/tgsync.yaml`` deploys: the function from this package's own
code (the same reproducible zip, built at synth time unless ``code`` is given),
``python3.13`` on arm64, reserved concurrency 1, EventBridge Scheduler on ``schedule``
(1 to 4 minutes; every minute by default) with a dropped-not-retried policy, a
least-privilege role whose writes are scoped to the target groups given, a security
group that lets the function reach the ELB API and DNS only, a log group with retention,
the alarms, and optionally the OpenSearch and RDS event rules (``domain_arns``,
``event_source_arns``), the RDS reads of ``resolve="rds"`` and the interface endpoints
it may need (``elasticloadbalancing``, ``rds``, ``sts``, ``kms``, ``events``).

The keywords that are settings of the function come from :data:`tgsync.settings.SETTINGS`
(its ``cdk`` names) and are checked at synth time with the function's own parsers, so a
value the function would refuse at run time fails ``cdk synth`` instead.
``function``, ``role``, ``log_group``, ``security_group`` and ``dashboard`` are exposed
for extension.

The package's modules, each one part: :mod:`~tgsync.cdk.construct` (the construct),
:mod:`~tgsync.cdk.function` (its handler, timeout, code and checkov skips),
:mod:`~tgsync.cdk.environment` (keywords to the function's variables, checked),
:mod:`~tgsync.cdk.role` (the function's IAM statements), :mod:`~tgsync.cdk.network`
(security groups, the endpoints and their policies), :mod:`~tgsync.cdk.triggers` (the
schedule and the OpenSearch and RDS events), :mod:`~tgsync.cdk.alarms` (alarms and dashboard).
Nothing the function runs imports any of them, and the Lambda zip leaves them out.
"""

from __future__ import annotations

from tgsync.cdk.alarms import HEALTH_NAMESPACES, HEALTH_QUERY
from tgsync.cdk.construct import HostnameTargetSync
from tgsync.cdk.environment import (
    KEYWORD_SETTINGS,
    LOG_LEVELS,
    discover_on,
    setting_variables,
)
from tgsync.cdk.function import HANDLER, TIMEOUT
from tgsync.cdk.role import (
    ELB_ACTIONS_READ,
    ELB_ACTIONS_TAGS,
    ELB_ACTIONS_TARGETS,
    ELB_ACTIONS_WRITE,
    MEMORY_TAG_KEYS,
)

__all__ = [
    "HostnameTargetSync",
    "HANDLER",
    "TIMEOUT",
    "LOG_LEVELS",
    "MEMORY_TAG_KEYS",
    "KEYWORD_SETTINGS",
    "HEALTH_QUERY",
    "HEALTH_NAMESPACES",
    "ELB_ACTIONS_READ",
    "ELB_ACTIONS_WRITE",
    "ELB_ACTIONS_TARGETS",
    "ELB_ACTIONS_TAGS",
    "setting_variables",
    "discover_on",
]
