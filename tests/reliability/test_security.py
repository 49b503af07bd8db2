"""Credentials and request signatures never reach the logs, even at debug level and
even when AWS refuses the call."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import HOSTNAME
from testlab.faultproxy import Fault
from testlab.runtime_api import RuntimeApi, start_runtime

TGSYNC = shutil.which("tgsync", path=os.path.dirname(sys.executable)) or "tgsync"
SECRET = "tgsync-test-secret-NOT-A-REAL-KEY-000000"
TOKEN = "tgsync-test-session-token-NOT-REAL-000000"
FORBIDDEN = (
    SECRET,
    TOKEN,
    "Signature=",
    "AWS4-HMAC-SHA256",
    "Credential=",
    "X-Amz-Security-Token",
    "Authorization",
)


@pytest.fixture
def env(moto, proxy, dns, target_group):
    dns.set(HOSTNAME, a=["10.0.1.5", "8.8.8.8"])
    return {
        **os.environ,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "TGSYNC_HOSTNAME": HOSTNAME,
        "TGSYNC_TARGET_GROUP_ARN": target_group,
        "TGSYNC_DNS_SERVERS": dns.address,
    }


def assert_clean(text):
    assert text.strip()
    for secret in FORBIDDEN:
        assert secret not in text


@pytest.mark.parametrize("fault", [None, "denied", "throttle", "validation"])
def test_cli_output_holds_no_credentials(env, proxy, fault):
    if fault:
        proxy.inject(Fault(fault, "RegisterTargets", times=10, message="bad target"))
    done = subprocess.run(
        [TGSYNC, "sync", "--metrics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == (1 if fault else 0)
    assert_clean(done.stdout + done.stderr)


def test_lambda_logs_hold_no_credentials(env, proxy, tmp_path):
    proxy.inject(Fault("denied", "DescribeTargetHealth", times=10))
    api = RuntimeApi().start()
    log = tmp_path / "lambda.log"
    with log.open("wb") as sink:
        runtime = start_runtime(
            api, env, "tgsync.lambda_handler.handler", stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            outcome = api.invoke()
        finally:
            runtime.kill()
            runtime.wait()
            api.stop()
    assert not outcome.ok
    assert_clean(log.read_text() + str(outcome.body))
