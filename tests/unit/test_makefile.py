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
