"""Build the Lambda deployment zip: ``make package`` (``ARCH=arm64`` or ``x86_64``).

The zip holds tgsync and its pure-Python dependencies (``src/requirements.txt``,
pinned); see :mod:`tgsync.bundle`, which the CDK construct builds with too.

Prints the zip's path, size and SHA-256.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tgsync.bundle import PLATFORMS, sha256
from tgsync.bundle import build as build_zip

__all__ = ["PLATFORMS", "build", "main", "requirements", "sha256"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "src" / "requirements.txt"


def requirements() -> list[str]:
    """The pins of ``src/requirements.txt``, comments left out."""
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build(arch: str = "arm64", destination: Path | None = None) -> Path:
    """Build the zip for ``arch``; return its path."""
    if arch not in PLATFORMS:
        raise SystemExit(f"unknown architecture {arch!r}; use one of {', '.join(PLATFORMS)}")
    return build_zip(arch, destination or ROOT / "dist" / f"tgsync-lambda-{arch}.zip",
                     requirements())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    path = build(args.arch, args.output)
    size = path.stat().st_size
    print(f"{path}  {size / 1_000_000:.2f} MB  sha256 {sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
