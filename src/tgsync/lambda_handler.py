"""AWS Lambda entry point: ``tgsync.lambda_handler.handler``.

Configuration comes from environment variables (see :mod:`tgsync.config`). Each
invocation runs a cycle over every mapping and then follows the mappings that move
(see :mod:`tgsync.follow`); the handler returns the JSON summary and raises
:class:`~tgsync.errors.SyncFailed` after all mappings are done if any of them failed
in its last cycle, so Lambda's Errors metric and alarms see it.

Events (see :mod:`tgsync.events`): the schedule's, an OpenSearch or RDS event (which
also announces a change of the mappings its domain, cluster or instance serves), or a
direct one: ``{"dry_run": true}``
plans without changing anything (an event may turn dry-run on, never off);
``{"check": true}`` runs the preflight checks (see :mod:`tgsync.preflight`) from the
function's own subnets and role, and raises :class:`~tgsync.errors.CheckFailed` if one
failed. A direct event whose ``dry_run`` or ``check`` is not a boolean raises
:class:`~tgsync.errors.EventError` naming the key, and changes nothing. An event of a
kind tgsync does not know is ignored with a log line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tgsync import config as conf
from tgsync.controller import Controller
from tgsync.errors import CheckFailed, ConfigError, EventError, SyncFailed
from tgsync.events import classify, direct_options
from tgsync.report import emit_metrics, logger
from tgsync.wiring import build_controller, preflight

# Kept across invocations of one execution environment: clients, target group
# facts and tag memory are read once per cold start.
_controller: Controller | None = None
_cold_start = True


def _get_controller(config: conf.Config) -> Controller:
    global _controller  # noqa: PLW0603 - the per-cold-start cache is the point
    if _controller is None:
        _controller = build_controller(config)
    return _controller


def _time_left(context: Any) -> Callable[[], float] | None:
    """Seconds left before the invocation's deadline, from Lambda's context."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: float(context.get_remaining_time_in_millis()) / 1000.0


def _check(config: conf.Config, context: Any) -> dict[str, Any]:
    """The preflight checks, from the function's own subnets and role, answered before
    the invocation's deadline."""
    checks = preflight(config, _time_left(context))
    for check in checks:
        logger.info(check.status, extra={"check": check.name, "detail": check.detail})
    summary = {
        "ok": all(c.status != "FAIL" for c in checks),
        "checks": [check.line() for check in checks],
    }
    if not summary["ok"]:
        failed = [check.line() for check in checks if check.status == "FAIL"]
        raise CheckFailed(
            f"{len(failed)} of {len(checks)} check(s) failed: " + " | ".join(failed), summary
        )
    return summary


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Run a sync cycle over every configured mapping, and follow what moves."""
    global _cold_start  # noqa: PLW0603 - true for the first invocation of a sandbox only
    # Powertools' field names, so every line of one invocation can be found together.
    logger.append_keys(
        function_request_id=getattr(context, "aws_request_id", None), cold_start=_cold_start
    )
    _cold_start = False
    trigger = classify(event)
    if not trigger.runs:  # a stray event must neither fail nor change anything
        logger.info("event ignored", extra={"event": trigger.what})
        return {"ignored": True, "event": trigger.what}
    logger.info("invoked", extra={"trigger": trigger.kind, "event": trigger.what})
    try:
        check, dry_run = direct_options(event)
    except EventError as exc:
        logger.error("invalid event: nothing was changed", extra={"error": str(exc)})
        raise
    try:
        config = conf.load(os.environ)
    except ConfigError as exc:
        logger.error("invalid configuration: nothing was changed", extra={"problems": exc.problems})
        raise
    if check:
        return _check(config, context)
    if (
        config.dry_run
        and isinstance(event, dict)
        and event.get("dry_run") is not None
        and not dry_run
    ):
        logger.warning("an event cannot turn dry-run off: TGSYNC_DRY_RUN=true holds")
    time_left = _time_left(context)
    # A local call has no deadline to follow within: one cycle.
    invocation = _get_controller(config).run(
        dry_run=dry_run,
        time_left=time_left,
        trigger=trigger,
        on_cycle=emit_metrics,
        follow=time_left is not None,
    )
    summary = invocation.to_dict()
    if not invocation.ok:
        raise SyncFailed(invocation.final.failure_summary(), summary)
    return summary
