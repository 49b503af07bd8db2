"""The deployable zip's size."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.harness import ROOT, Section

TITLE = "The deployable zip"


def stage() -> Section:
    """The zip (arm64) as ``deploy/package.py`` builds it; ``n/a`` if it cannot be built
    here (it needs PyPI)."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import package  # noqa: PLC0415 - deploy/ is not a package

        with tempfile.TemporaryDirectory() as work:
            size = package.build("arm64", Path(work) / "tgsync.zip").stat().st_size
    except Exception as exc:  # no PyPI here: report, do not fail the bench
        return Section(TITLE, rows=[("deployable zip (arm64)", f"n/a ({exc})", "", "")])
    return Section(TITLE, rows=[("deployable zip (arm64)", f"{size / 1e6:.2f} MB", "", "")])
