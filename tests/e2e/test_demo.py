"""``make demo`` as a newcomer runs it: the whole story, then a clean exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
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
    return subprocess.Popen(
        [sys.executable, "-m", "testlab.demo", "--out", str(tmp_path), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def story_until_keep(process) -> tuple[str, str | None, dict[str, list[str]]]:
    """Read the demo's output up to --keep's prompt: the output, the export line and the
    tgsync commands it prints."""
    export = None
    commands: dict[str, list[str]] = {}
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.strip().startswith("export "):
            export = line.strip()[len("export ") :]
        elif line.strip().startswith(".venv/bin/tgsync "):
            words = line.strip().split()
            commands[words[1]] = words[1:]
        elif line.startswith("Press Ctrl-C"):
            break
    return "".join(seen), export, commands


def test_the_demo_tells_the_whole_story_and_keeps_a_stack_tgsync_can_use(tmp_path):
    """The whole story once, with --keep: it plays in real time (about two minutes at
    its shortest, chapter 6 ticks at 6 s), so one run checks both the story and the
    stack --keep leaves. Exit 0 after Ctrl-C means every step passed, as without --keep
    (Demo.run's status is the steps'; that it waits for Ctrl-C only with --keep is
    checked below without playing the story)."""
    process = demo(tmp_path, "--tick", "0.5", "--keep")
    # A story that never reaches --keep's prompt must fail the test, not hang it.
    watchdog = threading.Timer(420, process.kill)  # about 140 s on 2 busy cores
    watchdog.start()
    helpers = set()
    try:
        helpers, lines = started_helpers(process)
        rest, export, commands = story_until_keep(process)
        out = "".join(lines) + rest
        for chapter in CHAPTERS:
            assert chapter in out
        assert "FAIL:" not in out
        assert "15 passed, 0 failed" in out
        assert "following on: registered after entering DNS median" in out
        # Each action names its group.
        assert out.count(f"REGISTER   10.0.1.10:443 in {GROUP}: in DNS, not registered") == 1
        assert f"DEREGISTER 10.0.3.20:443 from {GROUP}: not in DNS for" in out
        assert f"REFUSED    198.51.100.7 for {GROUP}: outside the allowed ranges" in out
        assert (
            "following re-checks six times a tick, and tgsync re-checks at most once every 1s"
        ) in out
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
        # The stack left up: tgsync plan and check, as printed, work against it.
        assert export is not None, out
        assert set(commands) == {"plan", "check"}
        env = {
            **os.environ,
            "PYTHONPATH": PYTHONPATH,
            **dict(pair.split("=", 1) for pair in export.split()),
        }
        tgsync = Path(sys.executable).parent / "tgsync"
        done = subprocess.run(
            [str(tgsync), *commands["plan"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "10.0.1.50" in done.stdout  # the last blue/green's node
        assert "KEEP" in done.stdout
        checked = subprocess.run(
            [str(tgsync), *commands["check"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        group = [
            line
            for line in checked.stdout.splitlines()
            if "target group opensearch-dashboards:" in line
        ]
        assert group and group[0].startswith("OK "), checked.stdout
        assert "load balancer(s): opensearch-front" in group[0]
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        watchdog.cancel()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest  # every step passed
    assert not alive(helpers)  # nothing of the demo's left running


class _NoStack:
    """A stack that starts nothing: the demo's run without moto, DNS or the runtime."""

    def __init__(self) -> None:
        self.kept = 0
        self.stopped = 0
        self.interrupted = False

    def start(self) -> None:
        return None

    def draw_to(self, _end: float) -> None:
        return None

    def keep_up(self) -> None:
        self.kept += 1

    def stop(self) -> None:
        self.stopped += 1


@pytest.mark.parametrize("passed", [True, False])
@pytest.mark.parametrize("keep", [False, True])
def test_the_demo_waits_for_ctrl_c_only_with_keep_and_exits_with_its_steps_status(
    tmp_path, keep, passed, capsys
):
    """Demo.run, as make demo runs it, with a one-step story on a stack that starts
    nothing: it waits for Ctrl-C only with --keep, stops the stack either way, and its
    status is the steps' (0 every step passed, 1 otherwise)."""
    from testlab.demo import Demo

    stack = _NoStack()

    class OneStep(Demo):
        def stack(self, workdir):
            return stack

        def story(self, _stack):
            self.expect("the one step", passed)

    status = OneStep(tick=1.0, out=tmp_path, keep=keep).run()
    assert (status, stack.kept, stack.stopped) == (0 if passed else 1, int(keep), 1)
    assert ("1 passed, 0 failed" if passed else "0 passed, 1 failed") in capsys.readouterr().out


def test_ctrl_c_stops_everything(tmp_path):
    process = demo(tmp_path, "--tick", "0.5")
    helpers, _ = started_helpers(process)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: everything was stopped" in out
    assert not alive(helpers)
