"""Build the Lambda deployment zip: ``make package`` (``ARCH=arm64`` or ``x86_64``).

The zip holds tgsync's git-tracked files and its pure-Python dependencies, installed
with ``pip --require-hashes`` from ``src/tgsync/requirements.lock``; see
:mod:`tgsync.bundle`, which the CDK construct builds with too.

Prints the zip's path, size and SHA-256 (hex, and base64 as Lambda's ``CodeSha256``).
Tracked files go in as they are on disk: uncommitted edits of them are named in a
loud warning (the zip then matches no commit; ``make deploy`` and ``make stackset``
refuse such a zip unless told ``--allow-dirty``). pip, which installs the dependencies,
is pinned with its hash in ``deploy/build-requirements.lock`` (the release installs it
from there); another pip is named in a warning.

``--lock`` (``make lock``) rewrites the lock from the pins of ``src/requirements.txt``:
for each pin, the SHA-256 of the wheel pip downloads for each architecture.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tgsync.bundle import LOCK, PLATFORMS, PYTHON_VERSION, code_sha256, sha256
from tgsync.bundle import build as build_zip

__all__ = ["PLATFORMS", "build", "lock", "main", "requirements", "sha256", "uncommitted"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "src" / "requirements.txt"
#: The build and release tools (pip, setuptools, build, twine and theirs), pinned with
#: their hashes: ``pip install --require-hashes -r`` this file (``make build-lock``).
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"
#: What the zip is made of, as git tracks it.
ZIP_INPUTS = ("src/tgsync", "src/requirements.txt")
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
    return build_zip(
        arch, destination or ROOT / "dist" / f"tgsync-lambda-{arch}.zip", requirements()
    )


def uncommitted(root: Path = ROOT) -> list[str]:
    """The zip's tracked inputs whose files differ from the last commit (staged or not);
    empty outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return []
    done = subprocess.run(
        [git, "-C", str(root), "diff", "--name-only", "HEAD", "--", *ZIP_INPUTS],
        capture_output=True,
        text=True,
        check=False,
    )
    return sorted(done.stdout.split()) if done.returncode == 0 else []


def locked_pip(lock: Path = BUILD_LOCK) -> str | None:
    """The pip version ``deploy/build-requirements.lock`` pins."""
    found = re.search(r"^pip==(\S+)", lock.read_text(encoding="utf-8"), re.MULTILINE)
    return found[1] if found else None


def tool_warnings(root: Path = ROOT) -> list[str]:
    """What makes this build differ from the release's: uncommitted edits, another pip."""
    warnings = []
    edited = uncommitted(root)
    if edited:
        warnings.append(
            f"WARNING: uncommitted edits of {', '.join(edited)} go into the zip: "
            "it matches no commit (commit them before a deployment)"
        )
    pinned, running = locked_pip(), importlib.metadata.version("pip")
    if pinned and running != pinned:
        warnings.append(
            f"warning: pip {running} installs the dependencies; the release uses "
            f"pip {pinned} from {BUILD_LOCK.relative_to(ROOT)} (python -m pip "
            f"install --require-hashes --no-deps -r {BUILD_LOCK.relative_to(ROOT)})"
        )
    return warnings


def lock(pins: list[str], destination: Path = LOCK) -> Path:
    """Write the lock for ``pins``: each with the hashes of its wheels for every platform."""
    entries = []
    for pin in pins:
        digests: set[str] = set()
        for platform in PLATFORMS.values():
            with tempfile.TemporaryDirectory(prefix="tgsync-lock-") as work:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--quiet",
                        "--no-deps",
                        "--disable-pip-version-check",
                        "--only-binary=:all:",
                        "--platform",
                        platform,
                        "--python-version",
                        PYTHON_VERSION,
                        "--implementation",
                        "cp",
                        "--dest",
                        work,
                        pin,
                    ],
                    check=True,
                )
                digests.update(
                    hashlib.sha256(path.read_bytes()).hexdigest() for path in Path(work).iterdir()
                )
        entries.append(" \\\n".join([pin, *(f"    --hash=sha256:{d}" for d in sorted(digests))]))
    header = _LOCK_HEADER.format(platforms=", ".join(PLATFORMS.values()), python=PYTHON_VERSION)
    destination.write_text(header + "\n".join(entries) + "\n", encoding="utf-8")
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--lock",
        action="store_true",
        help="rewrite src/tgsync/requirements.lock from src/requirements.txt",
    )
    args = parser.parse_args(argv)
    if args.lock:
        path = lock(requirements())
        print(
            f"{path.relative_to(ROOT)}: {len(requirements())} pins, hashed for "
            f"{', '.join(PLATFORMS)}"
        )
        return 0
    for warning in tool_warnings():
        print(f"package.py: {warning}", file=sys.stderr)
    path = build(args.arch, args.output)
    size = path.stat().st_size
    print(
        f"{path}  {size / 1_000_000:.2f} MB  sha256 {sha256(path)}  CodeSha256 {code_sha256(path)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
