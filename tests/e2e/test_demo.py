"""``make demo`` as a newcomer runs it: the whole story, then a clean exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = [
    "== 1. a three-node domain comes up",
    "== 2. blue/green",
    "== 3. a stale IP",
    "== 4. DNS stops answering",
    "== 5. DNS hands out an address outside the allowed ranges",
]


def helpers() -> set[int]:
    """Processes the demo starts: moto's server and the Lambda runtime client."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"testlab.moto_server" in cmdline or b"awslambdaric tgsync" in cmdline:
            found.add(int(entry.name))
    return found


def demo(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "testlab.demo", "--out", str(tmp_path),
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_the_demo_tells_the_whole_story_and_exits_0(tmp_path):
    before = helpers()
    process = demo(tmp_path, "--tick", "0.5")
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    for chapter in CHAPTERS:
        assert chapter in out
    assert "FAIL:" not in out
    assert "13 passed, 0 failed" in out
    assert out.count("REGISTER   10.0.1.10:443  in DNS, not registered") == 1
    assert "DEREGISTER 10.0.3.20:443  not in DNS for" in out
    assert "REFUSED    198.51.100.7" in out
    assert "Timeline of the target group" in out
    svg = (tmp_path / "demo-timeline.svg").read_text()
    assert svg.startswith("<svg") and "10.0.3.20" in svg
    assert helpers() <= before  # nothing left running


def test_ctrl_c_stops_everything(tmp_path):
    before = helpers()
    process = demo(tmp_path, "--tick", "0.5")
    for line in process.stdout:
        if line.startswith("[") and "PASS:" in line:
            break
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: everything was stopped" in out
    assert helpers() <= before


def test_keep_leaves_a_stack_that_tgsync_plan_can_use(tmp_path):
    process = demo(tmp_path, "--tick", "0.5", "--keep")
    export = command = None
    for line in process.stdout:
        if line.strip().startswith("export "):
            export = line.strip()[len("export "):]
        elif line.strip().startswith(".venv/bin/tgsync plan"):
            command = line.strip().split()[1:]
        elif line.startswith("Press Ctrl-C"):
            break
    try:
        assert export is not None
        assert command is not None
        env = {**os.environ, **dict(pair.split("=", 1) for pair in export.split())}
        tgsync = Path(sys.executable).parent / "tgsync"
        done = subprocess.run([str(tgsync), *command], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert "10.0.1.20" in done.stdout
        assert "KEEP" in done.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
