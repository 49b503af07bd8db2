"""``make demo`` as a newcomer runs it: the whole story, then a clean exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testlab.pictures import disagreements

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: This checkout's tgsync and test lab, whatever the virtualenv has installed.
PYTHONPATH = os.pathsep.join([str(REPO / "src"), str(REPO)])
GROUP = "opensearch-dashboards"
CHAPTERS = [
    "== 1. a three-node domain comes up",
    "== 2. blue/green",
    "== 3. a stale IP",
    "== 4. DNS stops answering",
    "== 5. DNS hands out an address outside the allowed ranges",
    "== 6. blue/green, timed: following off, then on",
]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``: the demo's own tree, whatever else runs."""
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, set()).add(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (not zombies)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def started_helpers(process) -> tuple[set[int], list[str]]:
    """Read up to the first PASS line; the demo's helpers are up by then."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("[") and "PASS:" in line:
            break
    helpers = descendants(process.pid)
    assert helpers, "the demo starts moto and the Lambda runtime as its own children"
    return helpers, lines


def demo(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    return subprocess.Popen([sys.executable, "-m", "testlab.demo", "--out", str(tmp_path),
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_the_demo_tells_the_whole_story_and_exits_0(tmp_path):
    process = demo(tmp_path, "--tick", "0.5")
    helpers, lines = started_helpers(process)
    rest, _ = process.communicate(timeout=420)  # about 140 s on 2 busy cores
    out = "".join(lines) + rest
    assert process.returncode == 0, out
    for chapter in CHAPTERS:
        assert chapter in out
    assert "FAIL:" not in out
    assert "15 passed, 0 failed" in out
    assert "following on: registered after entering DNS median" in out
    # Each action names its group.
    assert out.count(f"REGISTER   10.0.1.10:443 in {GROUP}: in DNS, not registered") == 1
    assert f"DEREGISTER 10.0.3.20:443 from {GROUP}: not in DNS for" in out
    assert f"REFUSED    198.51.100.7 for {GROUP}: outside the allowed ranges" in out
    assert "following re-checks six times a tick, and tgsync re-checks at most once every 1s" \
        in out
    assert f"Timeline of the target group {GROUP}" in out
    svg = (tmp_path / "demo-timeline.svg").read_text()
    # The picture is the log's story: every registration and retirement where the log
    # has it, red before each retirement of an unhealthy target, the same chapters.
    assert disagreements(out, {GROUP: svg}) == []
    assert svg.startswith("<svg") and "10.0.3.20" in svg
    assert "198.51.100.7 (refused)" in svg  # the refused address has its row
    assert "invocation failed" in svg and "invocation ok" in svg
    assert "<title>follow-up cycle</title>" in svg
    assert len(re.findall(r">\d+s</text>", svg)) >= 5  # the axis is ticked
    assert not alive(helpers)  # nothing of the demo's left running


def test_ctrl_c_stops_everything(tmp_path):
    process = demo(tmp_path, "--tick", "0.5")
    helpers, _ = started_helpers(process)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: everything was stopped" in out
    assert not alive(helpers)


def test_keep_leaves_a_stack_that_tgsync_plan_and_check_can_use(tmp_path):
    process = demo(tmp_path, "--tick", "0.5", "--keep")
    export = None
    commands = {}
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.strip().startswith("export "):
            export = line.strip()[len("export "):]
        elif line.strip().startswith(".venv/bin/tgsync "):
            words = line.strip().split()
            commands[words[1]] = words[1:]
        elif line.startswith("Press Ctrl-C"):
            break
    try:
        assert export is not None
        assert set(commands) == {"plan", "check"}
        env = {**os.environ, "PYTHONPATH": PYTHONPATH,
               **dict(pair.split("=", 1) for pair in export.split())}
        tgsync = Path(sys.executable).parent / "tgsync"
        done = subprocess.run([str(tgsync), *commands["plan"]], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "10.0.1.50" in done.stdout  # the last blue/green's node
        assert "KEEP" in done.stdout
        checked = subprocess.run([str(tgsync), *commands["check"]], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)
        group = [line for line in checked.stdout.splitlines()
                 if "target group opensearch-dashboards:" in line]
        assert group and group[0].startswith("OK "), checked.stdout
        assert "load balancer(s): opensearch-front" in group[0]
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(seen) + rest  # which step failed, if one did
