"""``tgsync check`` and the ``{"check": true}`` event: a preflight that changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import HOSTNAME, registered
from testlab.faultproxy import Fault
from testlab.peers import attach_to_load_balancer as attach

TGSYNC = shutil.which("tgsync", path=os.path.dirname(sys.executable)) or "tgsync"


@pytest.fixture
def check(moto, dns, proxy, target_group):
    base = {k: v for k, v in os.environ.items() if not k.startswith("TGSYNC_")}
    env = {**base, **moto.environ(), "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": proxy.endpoint}

    def run(*args, code):
        done = subprocess.run(
            [
                TGSYNC,
                "check",
                "--hostname",
                HOSTNAME,
                "--target-group-arn",
                target_group,
                "--dns-servers",
                dns.address,
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout.splitlines()

    return run


def statuses(lines):
    return {line.split(None, 1)[0] for line in lines}


def test_a_ready_group_passes_every_check_and_nothing_changes(
    check, dns, elbv2, target_group, proxy
):
    attach(elbv2, target_group)
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": "10.0.1.5"}])
    elbv2.add_tags(
        ResourceArns=[target_group],
        Tags=[{"Key": "tgsync:missing:443:1", "Value": "10.0.9.9=1/2/1"}],
    )
    before = (
        registered(elbv2, target_group),
        elbv2.describe_tags(ResourceArns=[target_group])["TagDescriptions"][0]["Tags"],
    )
    dns.set(HOSTNAME, a=["10.0.1.5", "10.0.2.5"])
    lines = check(code=0)
    assert statuses(lines) == {"OK"}, lines
    text = "\n".join(lines)
    for action in ("DeregisterTargets", "RegisterTargets", "RemoveTags", "AddTags"):
        assert f"{action}: allowed" in text
    assert "load balancer(s): front" in text
    assert (
        registered(elbv2, target_group),
        elbv2.describe_tags(ResourceArns=[target_group])["TagDescriptions"][0]["Tags"],
    ) == before


def test_a_denied_write_fails_with_the_permission_to_add(check, dns, elbv2, target_group, proxy):
    attach(elbv2, target_group)
    dns.set(HOSTNAME, a=["10.0.1.5"])
    proxy.inject(Fault("denied", "DeregisterTargets", times=100))
    lines = check(code=1)
    assert any(
        line.startswith("FAIL") and "allow elasticloadbalancing:DeregisterTargets" in line
        for line in lines
    ), lines
    # An empty group's RegisterTargets is checked too: with an address ELB never takes.
    assert any(line.startswith("OK") and "RegisterTargets: allowed" in line for line in lines)


def test_an_unattached_group_and_a_failing_name_fail(check, dns, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5"], mode="servfail")
    lines = check(code=1)
    assert any(
        line.startswith("FAIL") and "attach it to a listener rule" in line for line in lines
    ), lines
    assert any(line.startswith("FAIL") and line.split()[1] == "DNS" for line in lines), lines


def test_refused_answers_are_named(check, dns, elbv2, target_group):
    attach(elbv2, target_group)
    dns.set(HOSTNAME, a=["10.0.1.5", "198.51.100.7"])
    lines = check(code=0)
    assert any("198.51.100.7 would be refused" in line for line in lines), lines


def test_check_with_discovery_lists_and_checks_the_adopted_groups(
    moto, dns, proxy, elbv2, target_group
):
    attach(elbv2, target_group)
    elbv2.add_tags(
        ResourceArns=[target_group], Tags=[{"Key": "tgsync:hostname", "Value": HOSTNAME}]
    )
    dns.set(HOSTNAME, a=["10.0.1.5"])
    base = {k: v for k, v in os.environ.items() if not k.startswith("TGSYNC_")}
    done = subprocess.run(
        [
            TGSYNC,
            "check",
            "--discover",
            "tags",
            "--discover-prefix",
            "*",
            "--dns-servers",
            dns.address,
        ],
        env={**base, **moto.environ()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    adopted = "1 group(s) read, 1 adopted (no owner tag, any name (prefix *))"
    assert any(line.startswith("OK") and adopted in line for line in lines), lines
    assert any("target group opensearch" in line for line in lines)


def test_the_check_says_whether_a_deployed_function_runs_signed_code(
    check, dns, elbv2, target_group
):
    """Issue 30, item 6: tgsync check reports whether the function's code is signed when
    a code signing configuration is set (from outside the function: ``--function``)."""
    import io
    import json
    import zipfile

    import boto3

    from testlab.peers import REGION

    attach(elbv2, target_group)
    dns.set(HOSTNAME, a=["10.0.1.5"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
    }
    role = boto3.client("iam").create_role(
        RoleName="tgsync-fn", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    config = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"
    lambda_ = boto3.client("lambda", region_name=REGION)
    for name, signing in (("unsigned", {"CodeSigningConfigArn": config}), ("plain", {})):
        lambda_.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
            **signing,
        )
    lines = check("--function", "unsigned", code=1)
    (line,) = [x for x in lines if "code signing of unsigned" in x]
    assert line.startswith("FAIL") and "is set, but the code is not signed" in line
    lines = check("--function", "plain", code=0)
    (line,) = [x for x in lines if "code signing of plain" in x]
    assert line.startswith("UNVERIFIED") and "off: no code signing configuration" in line


@pytest.mark.parametrize(
    ("mode", "fix"),
    [
        ("nxdomain", "check the hostname's spelling"),
        ("servfail", "allow UDP and TCP 53 to the resolver from where tgsync runs"),
    ],
)
def test_a_failed_lookup_gets_the_fix_that_fits_it(check, dns, elbv2, target_group, mode, fix):
    """A name the resolver says does not exist is not a security group problem."""
    attach(elbv2, target_group)
    dns.set(HOSTNAME, a=["10.0.1.5"], mode=mode)
    lines = check(code=1)
    failed = [line for line in lines if line.startswith("FAIL") and f"DNS {HOSTNAME}" in line]
    assert len(failed) == 1 and fix in failed[0], lines
    assert ("UDP and TCP 53" in failed[0]) is (mode != "nxdomain"), lines
