"""What a request the fault proxy saw says: the targets, tag keys and group it names."""

from __future__ import annotations

from testlab.faultproxy import Request


def ids(request: Request, what: str = "Targets") -> list[str]:
    """The target Ids (or tag keys, ``what="TagKeys"``/``"Tags"``) a request names."""
    suffix = {"Targets": ".Id", "Tags": ".Key", "TagKeys": ""}[what]
    found = []
    for key, values in sorted(request.params.items()):
        if (
            key.startswith(f"{what}.member.")
            and key.endswith(suffix)
            and (what != "TagKeys" or key.count(".") == 2)
        ):
            found.extend(values)
    return found


def targets_of(request: Request) -> list[tuple[str, int, str | None]]:
    """(Id, Port, AvailabilityZone) of each target a Register/DeregisterTargets names."""
    members: dict[str, dict[str, str]] = {}
    for key, values in request.params.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "Targets" and parts[1] == "member":
            members.setdefault(parts[2], {})
        if len(parts) == 4 and parts[:2] == ["Targets", "member"]:
            members.setdefault(parts[2], {})[parts[3]] = values[0]
    return [
        (m.get("Id", ""), int(m.get("Port", "0")), m.get("AvailabilityZone"))
        for _, m in sorted(members.items())
    ]


def group_of(request: Request) -> str:
    """The target group ARN a request is about ("" for a region-wide listing)."""
    for key in ("TargetGroupArn", "ResourceArns.member.1", "TargetGroupArns.member.1"):
        if key in request.params:
            return request.params[key][0]
    return ""


def passed(requests: list[Request], *actions: str) -> list[Request]:
    """The requests of ``actions`` that reached moto (not failed by the proxy)."""
    return [r for r in requests if r.action in actions and r.outcome == "passed"]
