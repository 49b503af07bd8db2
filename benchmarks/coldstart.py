"""A cold start in a fresh interpreter: ``python -m benchmarks.coldstart handler`` imports
tgsync's Lambda handler and runs its first cycle (configured by the environment);
``python -m benchmarks.coldstart boto3`` imports boto3 and makes an ELB client, the
baseline. Prints one JSON object: seconds and the process's peak RSS.

Only the standard library is imported before the clock starts.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def peak_rss_kb() -> int:
    """This process's peak RSS (VmHWM): getrusage's ru_maxrss can carry the parent's
    peak across exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(line for line in status if line.startswith("VmHWM"))
    return int(hwm.split()[1])


def handler() -> dict[str, Any]:
    """Import the handler module, then invoke it once."""
    started = time.perf_counter()
    import tgsync.lambda_handler as module  # noqa: PLC0415 - the import is what is measured

    imported = time.perf_counter()
    module.handler({}, None)
    done = time.perf_counter()
    return {"import": imported - started, "first_cycle": done - imported}


def boto() -> dict[str, Any]:
    """Import boto3 and make an ELB client."""
    started = time.perf_counter()
    import boto3  # noqa: PLC0415 - the import is what is measured

    boto3.client("elbv2", region_name="eu-west-1")
    return {"import": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    """Measure what ``argv[0]`` names; print the JSON result."""
    runs = {"handler": handler, "boto3": boto}
    if len(argv) != 1 or argv[0] not in runs:
        print(f"usage: python -m benchmarks.coldstart {{{'|'.join(runs)}}}", file=sys.stderr)
        return 2
    result = runs[argv[0]]()
    print(json.dumps({**result, "rss_kb": peak_rss_kb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
