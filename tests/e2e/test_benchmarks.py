"""``make bench`` runs end to end (a quick run); its counts are behaviour, not timing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tgsync.aws import TIERS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_quick_benchmark_runs_and_reports_calls_side_by_side(tmp_path):
    output = tmp_path / "results.md"
    # This checkout's tgsync and bench, whatever the virtualenv was installed from.
    path = [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output", str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = output.read_text()
    assert "| ELB API requests per steady cycle, per target group | 0 |" in table
    assert "| DNS queries per steady cycle | 2 |" in table
    assert "10 target group(s), second cycle (each group read once more)" in table
    assert "\n### Many target groups in one invocation\n" in table  # a heading per stage
    assert not table.startswith("#")  # the docs page has the one title
    assert "inside Describe budget: yes" in table
    assert "peak RSS" in table
    assert "bench [1/9] steady and changing cycles" in done.stderr  # progress per stage
    assert "| following: seconds from a node joining DNS" in table
    aurora = re.search(
        r"\| Aurora failover: seconds from the writer endpoint's DNS flip .*?"
        r"\| with the event and following: ([\d.]+) s.*?\| schedule alone: "
        r"([\d.]+) s",
        table,
    )
    assert aurora is not None, table
    # The failover settles within the five minutes watched, either way.
    assert all(0 < float(seconds) < 300 for seconds in aurora.groups())
    assert (
        "| steady minute with 50 target groups (one function, TGSYNC_RESYNC_EVERY=300) |" in table
    )
    # The one-function run (a child process) counts its calls: its cold start reads
    # every group's targets at least.
    cold = re.search(r"\| cold start with 50 target groups: .*?\((\d+) Describe calls", table)
    assert cold is not None and int(cold.group(1)) >= 50, cold
    assert (
        "| discovery read of 100 target groups (10 tagged) |" in table
        and "1 DescribeTargetGroups, 5 DescribeTags" in table
    )
    # The memory row runs the function's own process through every mode; its clients
    # are a fixed few per service and region whatever the time left (the usual one and
    # the deadline tiers), and calls near the deadline did happen.
    assert (
        "| peak RSS over a 6-minute followed change, every mode on (target: under 96 MB) |" in table
    )
    clients = re.search(
        r"\| boto3 clients the process made \(Aws.clients_made\(\)\) \| "
        r"\d+ \(at most (\d+) per service and region\) \|",
        table,
    )
    assert clients is not None and 1 <= int(clients.group(1)) <= len(TIERS) + 1, table
    near = re.search(
        r"\| AWS requests, and those sent with under 7 s of work left .*? \| "
        r"[\d,]+, ([\d,]+) of them",
        table,
    )
    assert near is not None and int(near.group(1).replace(",", "")) > 0, table
