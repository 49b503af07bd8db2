"""The demo's AWS setup passes tgsync's preflight: its target group is attached to a
load balancer, as the group of the original's stack is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testlab import demo, demo_stack

REPO = Path(__file__).resolve().parents[2]


def test_tgsync_check_finds_the_demos_group_behind_a_load_balancer(moto, elbv2, dns):
    arn = demo_stack.build_group(elbv2)  # what the demo's stack builds, without the story
    dns.set(demo_stack.HOSTNAME, a=demo.BLUE)
    # This checkout's tgsync, whatever the virtualenv has installed.
    env = {
        **os.environ,
        **moto.environ(),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
    }
    env.pop("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", None)
    tgsync = Path(sys.executable).parent / "tgsync"
    done = subprocess.run(
        [
            str(tgsync),
            "check",
            "--hostname",
            demo_stack.HOSTNAME,
            "--target-group-arn",
            arn,
            "--dns-servers",
            dns.address,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    group = [line for line in lines if f"target group {demo_stack.GROUP}:" in line]
    assert len(group) == 1, done.stdout + done.stderr
    assert group[0].startswith("OK "), group[0]
    assert "load balancer(s): opensearch-front" in group[0]
    assert not [line for line in lines if line.startswith("FAIL")], done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
