"""Discovery: target groups that declare their own hostname in tags.

Pure: the provider lists the region's target groups with their tags; this module
decides which of them this function manages, with which settings, and why not.

A group is adopted when it is of type ``ip``, carries ``tgsync:hostname``, and its
``tgsync:owner`` tag matches the function's ``TGSYNC_OWNER`` (a function without an
owner takes only groups with no ``tgsync:owner`` tag), so several functions can split
an account and never act on each other's groups:

==========================  ===========================  ==========================
function's TGSYNC_OWNER     group's tgsync:owner tag     managed?
==========================  ===========================  ==========================
unset                       absent                       yes
unset                       any value                    no (another function's)
``team-a``                  ``team-a``                   yes
``team-a``                  absent or another value      no
==========================  ===========================  ==========================

The function's ``TGSYNC_DISCOVER_PREFIX`` is a scope no tag can change: a group whose
name does not start with it is never adopted, whatever its tags say (reported as
refused when it carries ``tgsync:hostname``). Whoever may tag a group may point tgsync
at it, so keep ``tgsync:*`` tags with the people who may register targets (see the
docs' trust model).

Optional tags override the function's defaults for that group: every setting of
:data:`tgsync.settings.SETTINGS` with a ``tag`` (:data:`TAG_SETTINGS` here, built from
it), with the values the setting takes. ``tgsync:allowed-cidrs`` (networks separated by
spaces, since ELB's tag values cannot hold commas) only *narrows* the function's
ranges: an answer must fall in both. A tag that does not parse refuses that group
alone, with an error naming the group, the tag and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tgsync.config import (
    DEFAULT_STALE_AFTER,
    EVERY_GROUP,
    Discovery,
    InvalidMapping,
    MappingConfig,
)
from tgsync.model import Candidate
from tgsync.parsers import normalize_hostname, parse_cidrs
from tgsync.settings import tag_settings
from tgsync.source import rds_problem, stale_problem

TAG_HOSTNAME = "tgsync:hostname"
TAG_OWNER = "tgsync:owner"
TAG_ALLOWED_CIDRS = "tgsync:allowed-cidrs"


def _tag_parser(key: str, parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if key == "allowed_cidrs":  # tag values cannot hold commas: spaces separate networks
        return lambda v: parse_cidrs(str(v).split())
    return parse


#: Tag -> (setting, parser), with the values the settings take.
TAG_SETTINGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    s.tag: (s.key, _tag_parser(s.key, s.parse)) for s in tag_settings() if s.tag
}


@dataclass(frozen=True)
class Discovered:
    """What one discovery read adopted, refused and passed over."""

    mappings: tuple[MappingConfig, ...] = ()
    refused: tuple[InvalidMapping, ...] = ()
    #: Groups with ``tgsync:hostname`` that belong to another owner.
    others: tuple[str, ...] = ()
    read: int = 0  # groups looked at
    at: float = 0.0

    @property
    def arns(self) -> frozenset[str]:
        """The groups adopted."""
        return frozenset(m.target_group_arn for m in self.mappings)


def adopt(candidates: Iterable[Candidate], discovery: Discovery, *, at: float = 0.0) -> Discovered:
    """The mappings this function manages among ``candidates``, and the refusals."""
    mappings: list[MappingConfig] = []
    refused: list[InvalidMapping] = []
    others: list[str] = []
    read = 0
    defaults = dict(discovery.defaults)
    for group in sorted(candidates, key=lambda c: c.arn):
        read += 1
        if TAG_HOSTNAME not in group.tags:
            continue
        if group.tags.get(TAG_OWNER) != discovery.owner:
            others.append(group.arn)
            continue
        where = f"target group {group.name} (tags)"
        if discovery.prefix != EVERY_GROUP and not group.name.startswith(discovery.prefix):
            refused.append(
                InvalidMapping(
                    len(refused),
                    where,
                    (
                        f"{where}: its name does not start with {discovery.prefix!r} "
                        "(TGSYNC_DISCOVER_PREFIX), so this function never adopts it: rename the "
                        f"group, or remove its {TAG_HOSTNAME} tag",
                    ),
                    group.arn,
                )
            )
            continue
        if group.target_type != "ip":
            refused.append(
                InvalidMapping(
                    len(refused),
                    where,
                    (
                        f"{where}: target type {group.target_type!r}; tgsync keeps groups of "
                        f"type ip only: remove the {TAG_HOSTNAME} tag, or use an ip target group",
                    ),
                    group.arn,
                )
            )
            continue
        mapping = _mapping(group, defaults, where)
        if isinstance(mapping, InvalidMapping):
            refused.append(mapping)
        else:
            mappings.append(mapping)
    return Discovered(tuple(mappings), tuple(refused), tuple(others), read, at)


def _mapping(
    group: Candidate, defaults: dict[str, Any], where: str
) -> MappingConfig | InvalidMapping:
    problems: list[str] = []
    values = dict(defaults)
    origins = [(setting, "function default") for setting in sorted(defaults)]
    try:
        hostname = normalize_hostname(group.tags[TAG_HOSTNAME])
    except ValueError as exc:
        problems.append(f"{where}: tag {TAG_HOSTNAME}: {exc}")
        hostname = ""
    for tag, (setting, parser) in TAG_SETTINGS.items():
        if tag not in group.tags:
            continue
        try:
            value = parser(group.tags[tag])
        except ValueError as exc:
            problems.append(f"{where}: tag {tag}: {exc}")
            continue
        # A tag narrows the function's ranges, never widens them.
        values["narrowed_cidrs" if setting == "allowed_cidrs" else setting] = value
        origins = [o for o in origins if o[0] != setting] + [(setting, f"tag {tag}")]
    if hostname and (problem := rds_problem(hostname, values.get("resolve"))):
        problems.append(f"{where}: tag tgsync:resolve: {problem}")
    if hostname and (
        stale := stale_problem(
            hostname, values.get("resolve"), values.get("stale_after", DEFAULT_STALE_AFTER)
        )
    ):
        problems.append(
            f"{where}: stale_after (tag tgsync:stale-after or the function's default): {stale}"
        )
    if problems:
        return InvalidMapping(0, where, tuple(problems), group.arn)
    values.pop("alb_id", None)  # AlbId names one load balancer: not for discovered groups
    return MappingConfig(
        hostname=hostname,
        target_group_arn=group.arn,
        source=where,
        origins=(("hostname", f"tag {TAG_HOSTNAME}"), *sorted(origins)),
        **values,
    )
