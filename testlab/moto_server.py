"""moto in server mode, with the ELB behaviours moto lacks, driven by a control file.

Run as ``python -m testlab.moto_server --control FILE [--calls FILE]``; it prints
``PORT <n>`` once it listens on 127.0.0.1 and serves until stdin closes or it is
signalled. With ``--calls``, every RegisterTargets and DeregisterTargets it carries out is
appended to that file as a JSON line, with the wall-clock time it was served (the
demo's pictures draw from them): ``{"at": 1767225600.25, "call": "DeregisterTargets",
"group": ARN, "targets": ["10.0.1.5"], "draining_seconds": 2.0}``.

The control file is JSON, re-read on every call, so tests change health by writing it::

    {"health": {"10.0.1.5": {"state": "unhealthy", "reason": "Target.FailedHealthChecks"}},
     "outside_vpc": ["192.168.0.0/16"],
     "default_state": "healthy", "draining_seconds": 0}

- ``health``: state per IP, as an ALB's checks would find it;
- ``default_state``: the state of a registered IP not in ``health`` (default
  ``healthy``; ``initial`` is what a real ALB reports before its first checks);
- ``outside_vpc``: networks outside the group's VPC. RegisterTargets of such an IP
  without ``AvailabilityZone: all`` fails with ELB's ValidationError, and an IP
  inside the VPC with ``all`` fails too, as on AWS;
- ``draining_seconds``: how long a deregistered target stays ``draining``;
- ``refuse``: ``{ip: message}``, addresses RegisterTargets refuses with ``InvalidTarget``
  (the VPC resolver's address, base + 2 of the group's VPC, is always refused);
- ``refuse_draining``: RegisterTargets of a target still draining is refused;
- ``zone_message``: the wording (with ``{ip}``) of the outside-VPC ValidationError, to
  play each wording ELB is known to use;
- ``rds_status``: ``{instance: status}`` and ``rds_cluster_status``: ``{cluster: status}``,
  the ``DBInstanceStatus`` and ``Status`` RDS answers for them (any account and region),
  until removed from the file.

Rules moto lacks, each as strict as ELB where a promise of tgsync depends on it:

- DeregisterTargets of an unknown target succeeds (moto raises). Source: the
  DeregisterTargets API reference lists no error for an unknown target; AWS's
  behaviour, noted in aws-notes.md.
- Tags: at most 50 per target group, counted after the call (moto's limit is 10);
  keys 1 to 128 characters, values up to 256; letters, digits, spaces and
  ``+ - = . _ : / @``; the ``aws:`` prefix is reserved. Source: ELB user guide, "Tags
  for your target group", and the AddTags API reference (``TooManyTags``).
- DeregisterTargets of an IP outside the VPC needs its ``AvailabilityZone``. Source: the
  API reference's ``TargetDescription``, shared by RegisterTargets and
  DeregisterTargets, says the zone is required for an IP outside the VPC (the strict
  reading; ELB may be kinder).
- RegisterTargets refuses the VPC resolver's address (VPC base + 2), an address ELB
  cannot send traffic to, with ``InvalidTarget`` (the error the API reference lists;
  the sentence is a stand-in quoting the IP, as ELB's refusals do).
- Target Ids are kept and returned exactly as registered (an IPv6 address written
  ``2001:0db8::1`` stays so), and DeregisterTargets matches them as written.
- Targets registered with ``AvailabilityZone`` report it in DescribeTargetHealth.
- DescribeTags of an ARN that does not exist (a target group deleted since it was
  listed) fails the whole call with ``TargetGroupNotFound`` (``LoadBalancerNotFound``,
  ``ListenerNotFound``, ``RuleNotFound`` for those resources), and answers no tags for
  the other ARNs; moto answers an empty tag list for it, or the deleted group's old
  tags. Source: the DescribeTags API reference, Errors: "TargetGroupNotFound: The
  specified target group does not exist. HTTP Status Code: 400".
- DescribeTargetGroups pages its answer: ``PageSize`` 1 to 400 (400 if unset), the rest
  behind ``NextMarker`` (moto returns everything at once). Source: the
  DescribeTargetGroups API reference (PageSize, Marker, NextMarker).
- EventBridge's TestEventPattern answers ``Result`` (moto answers nothing), with the
  matcher moto itself routes PutEvents with. Source: the TestEventPattern API
  reference (EventPattern, Event; Result).
- RDS DB instances and clusters take any status RDS documents (moto's only become
  ``available``, ``stopped`` or ``deleting``): the control file's ``rds_status`` and
  ``rds_cluster_status`` set them as DescribeDBInstances and DescribeDBClusters answer
  (and as moto's own checks see them, e.g. FailoverDBCluster refusing a target that is
  not ``available``); removed from the file, an instance or cluster gets back the status
  it had. Source: RDS User Guide, "Viewing Amazon RDS DB instance status", and Aurora
  User Guide, "Viewing DB cluster status" (the tables of statuses).

What the deployment tests need of CloudFormation, Lambda and StackSets (object versions,
code signing, ``Fn::Cidr``, parameter overrides) is taught in :mod:`testlab.moto_deploy`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto.core.responses import ActionResult
from moto.elbv2 import models, responses
from moto.elbv2.exceptions import ELBClientError, TooManyTagsError, ValidationError
from moto.events import responses as events_responses
from moto.events.models import EventPattern
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.rds import models as rds_models

import testlab.moto_deploy  # noqa: F401 - CloudFormation, Lambda and StackSets as AWS documents them

_control_path: Path | None = None
_calls_path: Path | None = None
_lock = threading.Lock()
# (target group arn, ip) -> (target dict, draining until)
_draining: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}


def control() -> dict[str, Any]:
    """The current control file, or defaults."""
    if _control_path is None or not _control_path.exists():
        return {}
    text = _control_path.read_text(encoding="utf-8")
    return json.loads(text) if text.strip() else {}


def _record(call: str, group: str, targets: list[str], **more: Any) -> None:
    """Append one carried-out call to the ``--calls`` file, if there is one."""
    if _calls_path is None or not targets:
        return
    line = json.dumps({"at": time.time(), "call": call, "group": group, "targets": targets, **more})
    with _lock, _calls_path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def _outside(ip: str, networks: list[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(n) for n in networks)


class InvalidTarget(ELBClientError):
    """ELB's ``InvalidTarget``, quoting the refused address."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidTarget", message)


#: The only IPv4 ranges an ip target may come from (Application and Network Load
#: Balancer guides, "Target type": the VPC's subnets, RFC 1918 and RFC 6598; "you can't
#: specify publicly routable IP addresses"). moto registers any address.
_TARGET_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_ZONE_REQUIRED = (
    "The Availability Zone is required for IP address '{ip}' because it is not in the VPC"
)
_TAG_CHARACTERS = re.compile(r"^[\w\s+\-=.:/@]*$")
MAX_TAGS = 50


def _publicly_routable(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False  # moto's own validation answers
    return address.version == 4 and not any(address in net for net in _TARGET_RANGES)


def _vpc_resolver(group: models.FakeTargetGroup) -> str | None:
    """Base + 2 of the group's VPC, the address of the Amazon-provided DNS server."""
    try:
        vpc = group.ec2_backend.get_vpc(group.vpc_id)
    except Exception:  # moto's own error for an unknown VPC
        return None
    return str(ipaddress.ip_network(vpc.cidr_block).network_address + 2)


def _register(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    settings = control()
    networks = settings.get("outside_vpc", [])
    refused = dict(settings.get("refuse", {}))
    if (resolver := _vpc_resolver(self)) is not None:
        refused.setdefault(
            resolver,
            f"The IP address '{resolver}' is reserved for the "
            "Amazon-provided DNS server and cannot be a target",
        )
    for target in targets:
        ip, zone = target["Id"], target.get("AvailabilityZone")
        if ip in refused:
            raise InvalidTarget(refused[ip])
        if _publicly_routable(ip):
            raise ValidationError(
                f"The IP address '{ip}' is not a valid target: IP targets "
                "must be in the VPC, RFC 1918 or RFC 6598 ranges"
            )
        if settings.get("refuse_draining") and (self.arn, ip) in _draining:
            raise InvalidTarget(
                f"The target '{ip}' is still draining and cannot be registered again yet"
            )
        if _outside(ip, networks) and zone != "all":
            raise ValidationError(settings.get("zone_message", _ZONE_REQUIRED).format(ip=ip))
        if not _outside(ip, networks) and zone == "all":
            raise ValidationError(
                f"The IP address '{ip}' is within the VPC, and cannot have its Availability "
                "Zone overridden to 'all'"
            )
    with _lock:
        for target in targets:
            _draining.pop((self.arn, target["Id"]), None)
    _original_register(self, targets)
    for target in targets:
        if target.get("AvailabilityZone"):
            self.targets[target["Id"]]["AvailabilityZone"] = target["AvailabilityZone"]
    _record("RegisterTargets", self.arn, [t["Id"] for t in targets])


def _deregister(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    settings = control()
    seconds = float(settings.get("draining_seconds", 0))
    for target in targets:
        registered = self.targets.get(target["Id"])
        if (
            registered is not None
            and registered.get("AvailabilityZone") == "all"
            and not target.get("AvailabilityZone")
        ):
            raise ValidationError(_ZONE_REQUIRED.format(ip=target["Id"]))
    removed = []
    for target in targets:
        found = self.targets.pop(target["Id"], None)
        if found is None:
            continue  # AWS: deregistering an unknown target succeeds
        removed.append(target["Id"])
        self.deregistered_targets[target["Id"]] = found
        if seconds > 0:
            with _lock:
                _draining[(self.arn, target["Id"])] = (found, time.monotonic() + seconds)
    _record("DeregisterTargets", self.arn, removed, draining_seconds=seconds)


def _add_tags(
    self: models.ELBv2Backend, resource_arns: list[str], tags: list[dict[str, str]]
) -> None:
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise ValidationError(
                f"Tag key '{key[:40]}' or its value is too long (keys 1 to "
                "128 characters, values up to 256)"
            )
        if not (_TAG_CHARACTERS.match(key) and _TAG_CHARACTERS.match(value)):
            raise ValidationError(f"Tag '{key[:40]}' has characters ELB does not allow")
        if key.lower().startswith("aws:"):
            raise ValidationError("Tag keys starting with 'aws:' are reserved")
    new_keys = {tag["Key"] for tag in tags}
    for arn in resource_arns:
        self._get_resource_by_arn(arn)
        existing = set(self.tagging_service.get_tag_dict_for_resource(arn))
        if len(existing | new_keys) > MAX_TAGS:
            raise TooManyTagsError()
        self.tagging_service.tag_resource(arn, tags)


def _describe_tags(
    self: models.ELBv2Backend, resource_arns: list[str]
) -> dict[str, dict[str, str]]:
    for arn in resource_arns:
        self._get_resource_by_arn(arn)  # ELB's *NotFound for the whole call
    return _original_describe_tags(self, resource_arns)


MAX_PAGE = 400


def _describe_target_groups(self: responses.ELBV2Response) -> ActionResult:
    if (
        self._get_param("LoadBalancerArn")
        or self._get_param("TargetGroupArns", [])
        or self._get_param("Names", [])
    ):
        return _original_describe_groups(self)
    size = int(self._get_param("PageSize") or MAX_PAGE)
    if not 1 <= size <= MAX_PAGE:
        raise ValidationError(f"PageSize must be between 1 and {MAX_PAGE}")
    start = int(self._get_param("Marker") or 0)
    groups = list(self.elbv2_backend.describe_target_groups(None, [], []))
    result: dict[str, Any] = {"TargetGroups": groups[start : start + size]}
    if start + size < len(groups):
        result["NextMarker"] = str(start + size)
    return ActionResult(result)


def _health_status(  # noqa: PLR0917 - moto's own order
    target_id: str,
    port: str,
    health_port: str | None,
    state: str,
    reason: str | None,
    description: str | None,
    zone: str | None,
) -> models.FakeHealthStatus:
    """moto's health status, with the target's zone as ELB reports it."""
    status = models.FakeHealthStatus(target_id, port, health_port, state, reason, description)
    status.zone = zone  # type: ignore[attr-defined]
    return status


def _target_with_zone(self: models.FakeHealthStatus) -> dict[str, str]:
    found = {"Id": self.instance_id, "Port": self.port}
    zone = getattr(self, "zone", None)
    if zone:
        found["AvailabilityZone"] = zone
    return found


def _health_for(
    self: models.FakeTargetGroup, target: dict[str, Any], ec2_backend: Any
) -> models.FakeHealthStatus:
    registered = self.targets.get(target["Id"])
    if registered is None:
        with _lock:
            draining = _draining.get((self.arn, target["Id"]))
        if draining is not None:
            return _health_status(
                target["Id"],
                draining[0]["Port"],
                self.health_check_port,
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
                draining[0].get("AvailabilityZone"),
            )
        return _original_health_for(self, target, ec2_backend)
    settings = control()
    health = settings.get("health", {}).get(target["Id"])
    if health is None:  # not probed yet
        health = {"state": settings.get("default_state", "healthy")}
        if health["state"] == "initial":
            health["reason"] = "Elb.InitialHealthChecking"
    state = health.get("state", "healthy")
    return _health_status(
        registered["Id"],
        registered["Port"],
        self.health_check_port,
        state,
        health.get("reason"),
        health.get("description"),
        registered.get("AvailabilityZone"),
    )


def _describe_target_health(
    self: models.ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
) -> list[models.FakeHealthStatus]:
    group = self.target_groups.get(target_group_arn)
    if group is None or targets:
        return _original_describe(self, target_group_arn, targets)
    now = time.monotonic()
    with _lock:
        for key in [k for k, (_, until) in _draining.items() if until <= now]:
            del _draining[key]
        leaving = [t for (arn, _), (t, _) in _draining.items() if arn == target_group_arn]
    every = list(group.targets.values()) + leaving
    return [group.health_for(t, self.ec2_backend) for t in every]


_original_register = models.FakeTargetGroup.register
_original_health_for = models.FakeTargetGroup.health_for
_original_describe = models.ELBv2Backend.describe_target_health
_original_describe_tags = models.ELBv2Backend.describe_tags
models.FakeTargetGroup.register = _register  # type: ignore[method-assign]
models.FakeTargetGroup.deregister = _deregister  # type: ignore[method-assign]
models.FakeTargetGroup.health_for = _health_for  # type: ignore[method-assign]
models.ELBv2Backend.describe_target_health = _describe_target_health  # type: ignore[method-assign]
models.ELBv2Backend.add_tags = _add_tags  # type: ignore[method-assign]
models.ELBv2Backend.describe_tags = _describe_tags  # type: ignore[method-assign]
_original_describe_groups = responses.ELBV2Response.describe_target_groups
responses.ELBV2Response.describe_target_groups = _describe_target_groups  # type: ignore[method-assign]
models.FakeHealthStatus.target = property(_target_with_zone)  # type: ignore[assignment,method-assign]


def _test_event_pattern(self: events_responses.EventsHandler) -> tuple[str, dict[str, Any]]:
    pattern = EventPattern.load(self._get_param("EventPattern"))
    matched = pattern.matches_event(json.loads(self._get_param("Event")))
    return json.dumps({"Result": matched}), self.response_headers


events_responses.EventsHandler.test_event_pattern = _test_event_pattern  # type: ignore[method-assign,assignment]


def _load_balancer_from_cloudformation(
    cls: type[models.FakeLoadBalancer],
    /,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **_: Any,
) -> models.FakeLoadBalancer:
    """moto's CloudFormation drops a load balancer's Type and attributes (an NLB became an
    ALB that refused TCP listeners): as CloudFormation, it keeps both."""
    properties = cloudformation_json["Properties"]
    backend = models.elbv2_backends[account_id][region_name]
    balancer = backend.create_load_balancer(
        resource_name,
        properties.get("SecurityGroups"),
        properties.get("Subnets"),
        scheme=properties.get("Scheme", "internet-facing"),
        loadbalancer_type=properties.get("Type", "application"),
    )
    attributes = {a["Key"]: a["Value"] for a in properties.get("LoadBalancerAttributes", [])}
    if attributes:
        backend.modify_load_balancer_attributes(balancer.arn, attributes)
    return balancer


models.FakeLoadBalancer.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
    _load_balancer_from_cloudformation
)
_target_group_from_cloudformation = models.FakeTargetGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _target_group_with_attributes(
    cls: type[models.FakeTargetGroup],
    /,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> models.FakeTargetGroup:
    """moto's CloudFormation drops a target group's TargetGroupAttributes: it keeps them."""
    group = _target_group_from_cloudformation(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    attributes = {
        a["Key"]: a["Value"]
        for a in cloudformation_json["Properties"].get("TargetGroupAttributes", [])
    }
    if attributes:
        models.elbv2_backends[account_id][region_name].modify_target_group_attributes(
            group.arn, attributes
        )
    return group  # type: ignore[no-any-return]


models.FakeTargetGroup.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
    _target_group_with_attributes
)


#: The attribute a model keeps its own status in while the control file sets another.
_BEFORE = "_lab_status_before"


def _rds_statuses(key: str, found: list[Any], ident: str) -> list[Any]:
    """Apply the control file's statuses to ``found`` (moto's models), in place."""
    wanted = control().get(key, {})
    with _lock:
        for model in found:
            name = getattr(model, ident)
            if name in wanted:
                if not hasattr(model, _BEFORE):
                    setattr(model, _BEFORE, model.status)
                model.status = wanted[name]
            elif hasattr(model, _BEFORE):
                model.status = getattr(model, _BEFORE)
                delattr(model, _BEFORE)
    return found


def _describe_db_instances(
    self: rds_models.RDSBackend, db_instance_identifier: str | None = None, filters: Any = None
) -> list[Any]:
    return _rds_statuses(
        "rds_status",
        _original_describe_instances(self, db_instance_identifier, filters),
        "db_instance_identifier",
    )


def _describe_db_clusters(
    self: rds_models.RDSBackend, db_cluster_identifier: str | None = None, filters: Any = None
) -> list[Any]:
    return _rds_statuses(
        "rds_cluster_status",
        _original_describe_clusters(self, db_cluster_identifier, filters),
        "db_cluster_identifier",
    )


_original_describe_instances = rds_models.RDSBackend.describe_db_instances
_original_describe_clusters = rds_models.RDSBackend.describe_db_clusters
rds_models.RDSBackend.describe_db_instances = _describe_db_instances  # type: ignore[method-assign]
rds_models.RDSBackend.describe_db_clusters = _describe_db_clusters  # type: ignore[method-assign]


def main() -> None:
    """Start the server on 127.0.0.1, print its port, serve until told to stop."""
    global _control_path, _calls_path
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument(
        "--calls",
        type=Path,
        default=None,
        help="append every RegisterTargets and DeregisterTargets served",
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    _control_path, _calls_path = args.control, args.calls
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"PORT {server.get_host_and_port()[1]}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
