"""``make demo-aurora``: the failover's writer part as the real handler plays it (the
reader part needs TGSYNC_RESOLVE=rds, which the demo skips, saying so, where tgsync
lacks it), with health from TCP probes of a listener per instance, then a clean exit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testlab.pictures import disagreements

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: This checkout's tgsync and test lab, whatever the virtualenv has installed.
PYTHONPATH = os.pathsep.join([str(REPO / "src"), str(REPO)])
OLD, NEW = "10.0.1.11", "10.0.2.12"  # orders-1, the first writer; orders-2, moto's pick
WRITER, READER = "aurora-writer", "aurora-reader"


def test_the_writer_group_switches_to_the_new_writer_alone(tmp_path):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    done = subprocess.run(
        [sys.executable, "-m", "testlab.demo_aurora", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "FAIL:" not in out
    assert "PASS: the writer group holds the writer alone (['10.0.1.11'])" in out
    assert f"FailoverDBCluster: orders-2 ({NEW}) is the writer now" in out
    assert "PASS: the RDS event ran a cycle" in out
    assert "PASS: the writer group switches to the new writer only, within two ticks" in out
    # Healthy, yet retired at once: a consistent answer no longer holds it.
    assert (
        f"DEREGISTER {OLD}:5432 from {WRITER}: not in DNS though healthy: a consistent "
        "answer no longer holds it (stale after 0: retired at once)" in out
    )
    assert "PASS: the reader group holds every reader" in out
    # The health came from TCP probes of each instance's listener (moto says initial).
    assert re.search(
        r"PASS: every instance passes the TCP checks of its listener \(10\.0\.1\.11 "
        r"healthy, 10\.0\.2\.12 healthy, 10\.0\.3\.13 healthy; \d+ rounds of TCP "
        r"probes\)",
        out,
    ), out
    assert "PASS: the reader group holds the new readers at once" in out
    writer = (tmp_path / "demo-aurora-writer.svg").read_text()
    reader = (tmp_path / "demo-aurora-reader.svg").read_text()
    assert writer.startswith("<svg") and OLD in writer and NEW in writer
    assert f"the writer group {WRITER} over time" in writer and "invocation ok" in writer
    assert f"the reader group {READER} over time" in reader and "10.0.3.13" in reader
    # Each picture is its group's part of the log, to the half second.
    assert disagreements(out, {WRITER: writer, READER: reader}) == []
