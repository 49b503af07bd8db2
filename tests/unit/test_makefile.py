"""Every make target that is not a file is phony and listed by ``make help``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

MAKEFILE = (Path(__file__).resolve().parents[2] / "Makefile").read_text()


def test_every_command_target_is_phony_and_in_the_help():
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.MULTILINE))
    phony = set(re.search(r"^\.PHONY:(.*?)(?<!\\)$", MAKEFILE, flags=re.MULTILINE | re.DOTALL)
                [1].replace("\\", " ").split())
    help_text = MAKEFILE.split("\nhelp:", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r'@echo "make ([a-z-]+)', help_text))
    assert targets == phony
    assert targets - {"help"} == listed


def test_the_zip_bundles_the_pins_sam_builds_with():
    from tgsync.bundle import PINNED

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))
    import package
    assert tuple(package.requirements()) == PINNED


def test_every_tool_of_the_checks_is_pinned_as_the_constraints_pin_it():
    """A new release of cfn-lint, checkov or sam (new rules) must not fail CI on its own."""
    tools = dict(re.findall(r"^TOOL_(\w+)\s*:=\s*(\S+)", MAKEFILE, flags=re.MULTILINE))
    assert {"cfnlint", "checkov", "sam", "actionlint"} <= set(tools)
    unpinned = {name: spec for name, spec in tools.items()
                if not re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", spec)}
    assert not unpinned, f"pin these in the Makefile (NAME==VERSION): {unpinned}"
    constraints = dict(line.split("==") for line in (
        Path(__file__).resolve().parents[2] / "constraints" / "dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#"))
    for spec in tools.values():
        package, version = spec.split("==")
        assert constraints.get(package, version) == version, (spec, constraints[package])
