"""Command line: ``tgsync sync``, ``plan``, ``watch`` and ``check``.

Every flag sets the environment variable of the same meaning (see
:mod:`tgsync.config`), so the CLI and the Lambda function share one configuration
language. Flags win over the environment.

Results go to stdout, logs to stderr: as text for a person, or with ``--log-format
json`` as the JSON lines the Lambda function writes. A failed mapping's error is said
once: in its report, and in the last line on stderr unless that line goes where the
report just went (a terminal).

Exit codes: 0 every mapping synced (or was planned); 1 at least one mapping failed
(in ``watch``: in any cycle), the last line on stderr naming each; 2 invalid
configuration or usage (a bad ``--mappings`` entry included), nothing was called; 130
interrupted during a one-shot command.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tgsync import __version__
from tgsync import config as conf
from tgsync.controller import Controller
from tgsync.errors import ConfigError
from tgsync.plan import CONTINUITY_WINDOW_SECONDS, MAX_CYCLE_INTERVAL_SECONDS
from tgsync.rendering import PLANNED, REPORTED, log_to, render_line, render_table
from tgsync.report import CycleReport, emit_metrics, logger
from tgsync.settings import SETTINGS
from tgsync.settings_schema import Setting, shown
from tgsync.wiring import build_controller, preflight

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
#: The least time a ``watch`` cycle gets, however short the interval.
WATCH_CYCLE_SECONDS = 25.0
#: After SIGTERM or SIGINT, the cycle under way ends within this many seconds.
WATCH_STOP_SECONDS = 20.0

#: Settings only ``watch`` takes: following between its cycles.
_WATCH_ONLY = ("follow_interval", "follow_for")
#: Settings only the commands that change targets take (``plan`` puts no change event).
_CHANGES_ONLY = ("event_bus",)


def _flag_help(item: Setting) -> str:
    default = shown(item)
    legacy = f" (or env {item.legacy_env})" if item.legacy_env else ""
    return item.help + legacy + (f" (default {default})" if default else "")


#: The settings the commands take as flags (``--dry-run`` apart), from the table.
_FLAGS: tuple[Setting, ...] = tuple(
    s
    for s in SETTINGS
    if s.flag and s.key != "dry_run" and s.key not in (*_WATCH_ONLY, *_CHANGES_ONLY)
)
_WATCH_FLAGS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.flag and s.key in _WATCH_ONLY)
_CHANGES_FLAGS: tuple[Setting, ...] = tuple(
    s for s in SETTINGS if s.flag and s.key in _CHANGES_ONLY
)
#: The one mapping's names (and their legacy names), which a --mappings flag replaces.
_SINGLE = (conf.HOSTNAME, conf.LEGACY_HOSTNAME, conf.TARGET_GROUP_ARN, conf.LEGACY_TARGET_GROUP_ARN)


def _add_setting(group: argparse._ArgumentGroup, item: Setting) -> None:
    if item.flag:
        group.add_argument(item.flag, metavar=item.metavar, help=f"{_flag_help(item)} [{item.env}]")


def _parents() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The flags every command takes, and those of the commands that change things."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group(
        "settings (each also read from the environment variable named in brackets)"
    )
    for item in _FLAGS:
        _add_setting(group, item)
    common.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="what to print on stdout (default text)",
    )
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="how to log on stderr: text for a person (default), or json, "
        "one object a line as the Lambda function logs",
    )
    common.add_argument(
        "--metrics",
        action="store_true",
        help="also print CloudWatch EMF metrics (for CloudWatch agent or awslogs collection)",
    )
    # plan and check change nothing anyway: only sync and watch take --dry-run.
    changes = argparse.ArgumentParser(add_help=False, parents=[common])
    changes.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help=f"plan and report, change nothing [{conf.DRY_RUN}]",
    )
    events = changes.add_argument_group(
        "change events (also read from the environment variable named in brackets)"
    )
    for item in _CHANGES_FLAGS:
        _add_setting(events, item)
    return common, changes


def _parser() -> argparse.ArgumentParser:
    common, changes = _parents()
    parser = argparse.ArgumentParser(
        prog="tgsync",
        description="Keep an AWS ELBv2 ip target group pointed at a hostname.",
        epilog="Exit codes: 0 synced, 1 a mapping failed (left unchanged), 2 invalid "
        "configuration or usage, 130 interrupted. AWS credentials, region and "
        "endpoint come from the standard AWS settings (AWS_PROFILE, "
        "AWS_ENDPOINT_URL, ...).",
    )
    parser.add_argument("--version", action="version", version=f"tgsync {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "sync",
        parents=[changes],
        help="run one sync cycle",
        description="Resolve, compare and update every target group once.",
    )
    commands.add_parser(
        "plan",
        parents=[common],
        help="show what a cycle would do (dry run)",
        description="Resolve and compare; print wanted IPs, registered "
        "targets, their state, the action and its reason.",
    )
    _add_check(commands, common)
    _add_watch(commands, changes)
    return parser


def _add_check(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """``tgsync check``: the preflight, with its ``--function``."""
    check = commands.add_parser(
        "check",
        parents=[common],
        help="preflight: endpoint, groups, DNS, permissions; changes nothing",
        description="Check, without changing anything, what a sync needs: "
        "the ELB endpoint, each target group, the name through "
        "the configured DNS servers, the read and write "
        "permissions. One line per check; exit 0 only if none "
        "failed.",
    )
    check.add_argument(
        "--function",
        metavar="NAME|ARN",
        help="also check that this deployed function runs signed code when it "
        "has a code signing configuration (needs lambda:GetFunctionCode"
        "SigningConfig and lambda:GetFunctionConfiguration on it)",
    )


def _add_watch(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], changes: argparse.ArgumentParser
) -> None:
    """``tgsync watch``: its interval, its cycles and the following settings."""
    watch = commands.add_parser(
        "watch",
        parents=[changes],
        help="sync every --interval seconds",
        description="Run a cycle every --interval seconds until "
        "SIGTERM or SIGINT, for ECS, EC2 or a laptop.",
    )
    watch.add_argument(
        "--interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between cycle starts (default 60)",
    )
    watch.add_argument(
        "--cycles",
        type=int,
        default=0,
        metavar="N",
        help="stop after N cycles, each with its follow-ups (default 0: run until stopped)",
    )
    following = watch.add_argument_group(
        "following (between cycles, re-check only what moves; each also read from the environment)"
    )
    for item in _WATCH_FLAGS:
        _add_setting(following, item)


def flags_given(args: argparse.Namespace) -> dict[str, str]:
    """Environment variable -> the flag that set it, for the flags on the command line."""
    given = {
        item.env: item.flag
        for item in (*_FLAGS, *_WATCH_FLAGS, *_CHANGES_FLAGS)
        if item.flag and _value(args, item) is not None
    }
    if getattr(args, "dry_run", None):
        given[conf.DRY_RUN] = "--dry-run"
    return given


def name_flags(problem: str, given: dict[str, str]) -> str:
    """A configuration problem in the words the user used: ``--port`` for a flag."""
    for name, flag in given.items():
        if problem.startswith(name):
            return flag + problem[len(name) :]
    if problem.startswith("nothing to sync"):
        return problem + "; on the command line: --hostname and --target-group-arn, or --mappings"
    return problem


def environment(args: argparse.Namespace, base: dict[str, str]) -> dict[str, str]:
    """The environment the configuration is read from, with the flags applied."""
    env = dict(base)
    for item in (*_FLAGS, *_WATCH_FLAGS, *_CHANGES_FLAGS):
        value, name = _value(args, item), item.env
        if value is None:
            continue
        if name == conf.MAPPINGS:
            if value.startswith("@"):
                try:
                    value = Path(value[1:]).read_text(encoding="utf-8")
                except OSError as exc:
                    raise ConfigError(
                        [f"--mappings: cannot read {value[1:]!r}: {exc.strerror}"]
                    ) from None
            for single in _SINGLE:
                env.pop(single, None)
        elif name in _SINGLE:
            env.pop(conf.MAPPINGS, None)
        if item.legacy_env:  # the flag wins over the variable under either name
            env.pop(item.legacy_env, None)
        env[name] = value
    if getattr(args, "dry_run", None):
        env[conf.DRY_RUN] = "true"
    return env


def _value(args: argparse.Namespace, item: Setting) -> str | None:
    """The value the command line gave ``item``'s flag (None: not given)."""
    value: str | None = getattr(args, (item.flag or "")[2:].replace("-", "_"), None)
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    # In text, what the output says is not logged again; plan's table has every action.
    log_to(sys.stderr, args.log_format, REPORTED | PLANNED if args.command == "plan" else REPORTED)
    given = flags_given(args)
    try:
        config = conf.load(environment(args, dict(os.environ)))
    except ConfigError as exc:
        problems = [name_flags(problem, given) for problem in exc.problems]
        print(f"tgsync: {ConfigError(problems)}", file=sys.stderr)
        return EXIT_CONFIG
    if config.invalid:  # every entry is checked before any AWS call
        problems = [name_flags(p, given) for bad in config.invalid for p in bad.problems]
        print(f"tgsync: {ConfigError(problems)}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        return _check(config, args)
    # plan shows what a cycle would do; it puts no change event (its dry run is a look).
    controller = build_controller(config, publish=args.command != "plan")
    if args.command == "watch":
        return _watch(controller, config, args)
    dry_run = True if args.command == "plan" else None
    try:
        cycle = controller.run_once(dry_run=dry_run)
    except KeyboardInterrupt:
        print("tgsync: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print(cycle, args, sys.stdout, table=args.command == "plan")
    if not cycle.ok:
        print(f"tgsync: {_failed(cycle, args)}", file=sys.stderr)
    return EXIT_OK if cycle.ok else EXIT_FAILED


def _failed(cycle: CycleReport, args: argparse.Namespace) -> str:
    """The last line of a failed cycle: each failed mapping, with its cause unless the
    text output has just printed it where this line goes too (a terminal, ``2>&1``)."""
    told = args.output == "text" and _same_file(sys.stdout, sys.stderr)
    return cycle.failure_summary(causes=not told)


def _same_file(one: TextIO, other: TextIO) -> bool:
    """Whether two streams write to the same terminal, pipe or file."""
    try:
        a, b = os.fstat(one.fileno()), os.fstat(other.fileno())
    except (OSError, ValueError):  # no file behind one of them (a test's StringIO)
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _check(config: conf.Config, args: argparse.Namespace) -> int:
    checks = preflight(config, function=args.function)
    if args.output == "json":
        print(
            json.dumps([{"status": c.status, "check": c.name, "detail": c.detail} for c in checks])
        )
    else:
        for check in checks:
            print(check.line())
    failed = sum(1 for c in checks if c.status == "FAIL")
    print(f"tgsync check: {len(checks)} checks, {failed} failed", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _watch(controller: Controller, config: conf.Config, args: argparse.Namespace) -> int:
    if not 0 < args.interval <= MAX_CYCLE_INTERVAL_SECONDS:
        print(
            f"tgsync: --interval must be above 0 and at most "
            f"{MAX_CYCLE_INTERVAL_SECONDS:.0f} seconds: a missing-since record not "
            f"confirmed for {CONTINUITY_WINDOW_SECONDS:.0f} s is not trusted, so a slower "
            "watch would never retire a healthy stale IP",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    stop = threading.Event()
    stop_by = [float("inf")]  # once signalled: when the cycle under way must be over
    _stop_on_signals(stop, stop_by)
    cycles = failed = 0
    logger.info(
        "watching",
        extra={"interval": args.interval, "mappings": [m.label for m in config.mappings]},
    )

    def show(cycle: CycleReport) -> None:
        _print(cycle, args, sys.stdout, table=False)
        sys.stdout.flush()

    while not stop.is_set():
        started = time.monotonic()
        tick = started + args.interval
        # Follow-ups (of what moves) fit before the next tick. Every lookup and ELB call
        # ends by the tick (or WATCH_CYCLE_SECONDS after the start, for short intervals:
        # the next tick then starts late), and within WATCH_STOP_SECONDS of a stop
        # signal, before a container's stop timeout (ECS's default: 30 s) kills it.
        until_tick = functools.partial(_until, tick)
        ends = max(tick, started + WATCH_CYCLE_SECONDS)

        def cycle_ends(ends: float = ends) -> float:
            return min(ends, stop_by[0]) - time.monotonic()

        try:
            invocation = controller.run(
                time_left=cycle_ends,
                follow_within=until_tick,
                sleep=stop.wait,
                margin=0.0,
                on_cycle=show,
            )
        except BrokenPipeError:  # the reader of our output went away: a clean stop
            _quiet_stdout()
            break
        cycles += 1
        if not invocation.ok:
            failed += 1
            print(f"tgsync: {_failed(invocation.final, args)}", file=sys.stderr)
        if args.cycles and cycles >= args.cycles:
            break
        stop.wait(max(0.0, tick - time.monotonic()))
    logger.info("stopped", extra={"cycles": cycles, "failed_cycles": failed})
    return EXIT_FAILED if failed else EXIT_OK


def _stop_on_signals(stop: threading.Event, stop_by: list[float]) -> None:
    """On SIGTERM or SIGINT: set ``stop``, and end the cycle under way within
    ``WATCH_STOP_SECONDS`` (``stop_by[0]``, on the monotonic clock)."""

    def on_signal(signum: int, _frame: Any) -> None:
        logger.info("stopping after this cycle", extra={"signal": signal.Signals(signum).name})
        stop_by[0] = min(stop_by[0], time.monotonic() + WATCH_STOP_SECONDS)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _quiet_stdout() -> None:
    """After a broken pipe, send stdout nowhere, so the interpreter's flush at exit does
    not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _until(moment: float) -> float:
    """Seconds from now to ``moment`` on the monotonic clock."""
    return moment - time.monotonic()


def _print(cycle: CycleReport, args: argparse.Namespace, out: TextIO, *, table: bool) -> None:
    if args.metrics:
        emit_metrics(cycle)
    if args.output == "json":
        print(json.dumps(cycle.to_dict(), sort_keys=True), file=out)
        return
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for report in cycle.mappings:
        print(render_table(report) if table else render_line(report, stamp), file=out)


if __name__ == "__main__":
    sys.exit(main())
