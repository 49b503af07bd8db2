"""Every make target that is not a file is phony, described once on its own line (a
``## `` comment), and listed by ``make help``, which is made from those comments."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text()


def described() -> list[str]:
    """The targets whose rule line carries a ``## `` description, in order."""
    return re.findall(r"^([a-z][a-z-]*):[^#\n]*## \S", MAKEFILE, flags=re.MULTILINE)


def test_every_command_target_is_phony_and_described_once():
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.MULTILINE))
    phony = set(
        re.search(r"^\.PHONY:(.*?)(?<!\\)$", MAKEFILE, flags=re.MULTILINE | re.DOTALL)[1]
        .replace("\\", " ")
        .split()
    )
    assert targets == phony
    assert sorted(described()) == sorted(targets), "each target: one line with ## <what it does>"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_help_lists_every_described_target_with_its_words():
    shown = subprocess.run(
        [shutil.which("make") or "make", "-s", "--no-print-directory", "help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(None, 2) for line in shown.splitlines()]
    assert [row[1] for row in rows] == described()
    words = dict(re.findall(r"^([a-z][a-z-]*):[^#\n]*## (.+)$", MAKEFILE, flags=re.MULTILINE))
    assert all(row[0] == "make" and row[2] == words[row[1]] for row in rows)


def test_the_zip_bundles_the_pins_sam_builds_with():
    from tgsync.bundle import PINNED

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))
    import package

    assert tuple(package.requirements()) == PINNED


def test_every_tool_of_the_checks_is_pinned_as_the_constraints_pin_it():
    """A new release of cfn-lint, checkov or sam (new rules) must not fail CI on its own."""
    tools = dict(re.findall(r"^TOOL_(\w+)\s*:=\s*(\S+)", MAKEFILE, flags=re.MULTILINE))
    assert {"cfnlint", "checkov", "sam", "actionlint"} <= set(tools)
    unpinned = {
        name: spec
        for name, spec in tools.items()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", spec)
    }
    assert not unpinned, f"pin these in the Makefile (NAME==VERSION): {unpinned}"
    constraints = dict(
        line.split("==")
        for line in (Path(__file__).resolve().parents[2] / "constraints" / "dev.txt")
        .read_text()
        .splitlines()
        if "==" in line and not line.startswith("#")
    )
    for spec in tools.values():
        package, version = spec.split("==")
        assert constraints.get(package, version) == version, (spec, constraints[package])
