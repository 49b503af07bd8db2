"""Build the Lambda deployment zip: ``make package`` (``ARCH=arm64`` or ``x86_64``).

The zip holds tgsync's git-tracked files and its pure-Python dependencies, installed
with ``pip --require-hashes`` from ``src/tgsync/requirements.lock``; see
:mod:`tgsync.bundle`, which the CDK construct builds with too.

Prints the zip's path, size and SHA-256 (hex, and base64 as Lambda's ``CodeSha256``).

``--lock`` (``make lock``) rewrites the lock from the pins of ``src/requirements.txt``:
for each pin, the SHA-256 of the wheel pip downloads for each architecture.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from tgsync.bundle import LOCK, PLATFORMS, PYTHON_VERSION, code_sha256, sha256
from tgsync.bundle import build as build_zip

__all__ = ["PLATFORMS", "build", "lock", "main", "requirements", "sha256"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "src" / "requirements.txt"
_LOCK_HEADER = """\
# The Lambda zip's dependencies: the pins of src/requirements.txt, each with the
# SHA-256 of the wheel pip installs for it on each platform (CPython {python}):
# {platforms}.
# tgsync.bundle installs them with pip --require-hashes. Written by `make lock`
# (python deploy/package.py --lock); do not edit by hand.
"""


def requirements() -> list[str]:
    """The pins of ``src/requirements.txt``, comments left out."""
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build(arch: str = "arm64", destination: Path | None = None) -> Path:
    """Build the zip for ``arch`` from the lock; return its path."""
    if arch not in PLATFORMS:
        raise SystemExit(f"unknown architecture {arch!r}; use one of {', '.join(PLATFORMS)}")
    return build_zip(arch, destination or ROOT / "dist" / f"tgsync-lambda-{arch}.zip",
                     requirements())


def lock(pins: list[str], destination: Path = LOCK) -> Path:
    """Write the lock for ``pins``: each with the hashes of its wheels for every platform."""
    entries = []
    for pin in pins:
        digests: set[str] = set()
        for platform in PLATFORMS.values():
            with tempfile.TemporaryDirectory(prefix="tgsync-lock-") as work:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                     "--disable-pip-version-check", "--only-binary=:all:",
                     "--platform", platform, "--python-version", PYTHON_VERSION,
                     "--implementation", "cp", "--dest", work, pin],
                    check=True)
                digests.update(hashlib.sha256(path.read_bytes()).hexdigest()
                               for path in Path(work).iterdir())
        entries.append(" \\\n".join([pin, *(f"    --hash=sha256:{d}" for d in sorted(digests))]))
    header = _LOCK_HEADER.format(platforms=", ".join(PLATFORMS.values()),
                                 python=PYTHON_VERSION)
    destination.write_text(header + "\n".join(entries) + "\n", encoding="utf-8")
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--lock", action="store_true",
                        help="rewrite src/tgsync/requirements.lock from src/requirements.txt")
    args = parser.parse_args(argv)
    if args.lock:
        path = lock(requirements())
        print(f"{path.relative_to(ROOT)}: {len(requirements())} pins, hashed for "
              f"{', '.join(PLATFORMS)}")
        return 0
    path = build(args.arch, args.output)
    size = path.stat().st_size
    print(f"{path}  {size / 1_000_000:.2f} MB  sha256 {sha256(path)}  "
          f"CodeSha256 {code_sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
