"""The function's own parts in the construct: its handler, timeout and code (the
reproducible zip, built at synth time), the checkov checks it skips, and the event bus
keyword as its variable holds it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_

from tgsync import bundle

HANDLER = "tgsync.lambda_handler.handler"
#: The function's timeout: the retry budget, and following until 10 s before it.
TIMEOUT = Duration.seconds(55)


def function_skips(*, signed: bool) -> dict[str, str]:
    """The checkov checks the function skips, each with its reason."""
    skips = {
        "CKV_AWS_116": "No dead-letter queue: a missed one-minute tick has no value later; "
        "the next tick converges, and errors raise the Errors alarm.",
        "CKV_AWS_173": "The environment holds configuration only (hostnames, ARNs), no "
        "secrets; the default AWS-managed key encrypts it at rest.",
    }
    if not signed:
        skips["CKV_AWS_272"] = (
            "Code signing is optional: code_signing_config_arn turns "
            "it on (docs: Deploying, code signing)."
        )
    return skips


def bus_text(bus: events.IEventBus | str | None) -> str | None:
    """The ``event_bus`` keyword as its variable holds it: an IEventBus by its ARN."""
    return bus if bus is None or isinstance(bus, str) else bus.event_bus_arn


def built_code(arch: lambda_.Architecture) -> lambda_.Code:
    """This package's own code as the reproducible zip, built at synth time."""
    name = "arm64" if arch.name == lambda_.Architecture.ARM_64.name else "x86_64"
    destination = Path(tempfile.mkdtemp(prefix="tgsync-cdk-")) / f"tgsync-lambda-{name}.zip"
    return lambda_.Code.from_asset(str(bundle.build(name, destination)))
