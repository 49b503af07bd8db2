"""moto in server mode, with the ELB behaviours moto lacks, driven by a control file.

Run as ``python -m testlab.moto_server --control FILE``; it prints ``PORT <n>`` once
it listens on 127.0.0.1 and serves until stdin closes or it is signalled.

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
- ``draining_seconds``: how long a deregistered target stays ``draining``.

DeregisterTargets of an unknown target succeeds, as on AWS (moto raises).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto.elbv2 import models
from moto.elbv2.exceptions import ValidationError
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

_control_path: Path | None = None
_lock = threading.Lock()
# (target group arn, ip) -> (target dict, draining until)
_draining: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}


def control() -> dict[str, Any]:
    """The current control file, or defaults."""
    if _control_path is None or not _control_path.exists():
        return {}
    text = _control_path.read_text(encoding="utf-8")
    return json.loads(text) if text.strip() else {}


def _outside(ip: str, networks: list[str]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(n) for n in networks)


def _register(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    networks = control().get("outside_vpc", [])
    for target in targets:
        ip, zone = target["Id"], target.get("AvailabilityZone")
        if _outside(ip, networks) and zone != "all":
            raise ValidationError(
                f"The Availability Zone is required for IP address '{ip}' because it is "
                "not in the VPC")
        if not _outside(ip, networks) and zone == "all":
            raise ValidationError(
                f"The IP address '{ip}' is within the VPC, and cannot have its Availability "
                "Zone overridden to 'all'")
    with _lock:
        for target in targets:
            _draining.pop((self.arn, target["Id"]), None)
    _original_register(self, targets)


def _deregister(self: models.FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    seconds = float(control().get("draining_seconds", 0))
    for target in targets:
        found = self.targets.pop(target["Id"], None)
        if found is None:
            continue  # AWS: deregistering an unknown target succeeds
        self.deregistered_targets[target["Id"]] = found
        if seconds > 0:
            with _lock:
                _draining[(self.arn, target["Id"])] = (found, time.monotonic() + seconds)


def _health_for(self: models.FakeTargetGroup, target: dict[str, Any], ec2: Any
                ) -> models.FakeHealthStatus:
    registered = self.targets.get(target["Id"])
    if registered is None:
        with _lock:
            draining = _draining.get((self.arn, target["Id"]))
        if draining is not None:
            return models.FakeHealthStatus(
                target["Id"], draining[0]["Port"], self.health_check_port, "draining",
                "Target.DeregistrationInProgress", "Target deregistration is in progress")
        return _original_health_for(self, target, ec2)
    settings = control()
    health = settings.get("health", {}).get(target["Id"])
    if health is None:  # not probed yet
        health = {"state": settings.get("default_state", "healthy")}
        if health["state"] == "initial":
            health["reason"] = "Elb.InitialHealthChecking"
    state = health.get("state", "healthy")
    return models.FakeHealthStatus(
        registered["Id"], registered["Port"], self.health_check_port, state,
        health.get("reason"), health.get("description"))


def _describe_target_health(self: models.ELBv2Backend, target_group_arn: str,
                            targets: list[dict[str, Any]]) -> list[models.FakeHealthStatus]:
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
models.FakeTargetGroup.register = _register  # type: ignore[method-assign]
models.FakeTargetGroup.deregister = _deregister  # type: ignore[method-assign]
models.FakeTargetGroup.health_for = _health_for  # type: ignore[method-assign]
models.ELBv2Backend.describe_target_health = _describe_target_health  # type: ignore[method-assign]


def main() -> None:
    """Start the server on 127.0.0.1, print its port, serve until told to stop."""
    global _control_path  # noqa: PLW0603
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    _control_path = args.control
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"PORT {server.get_host_and_port()[1]}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
