"""The Lambda deployment zip: tgsync and its pinned pure-Python dependencies.

Built for the chosen architecture and Python 3.13. boto3 and botocore come with the
Lambda runtime and are left out, and so are the parts of Powertools that tgsync does
not use, and tgsync's CDK construct (it runs at synth time, never in the function).
The same source and pins always give the same bytes: entries are sorted, timestamps
fixed, permissions normalised, and no bytecode or installer records are kept.

``deploy/package.py`` (``make package``) and the CDK construct both build with this
module, so the stack and the construct deploy the same zip.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

#: What the function bundles besides tgsync; ``src/requirements.txt`` (read by
#: ``sam build``) holds the same pins, and a test keeps the two equal.
PINNED = ("aws-lambda-powertools==3.37.0", "dnspython==2.9.2", "typing-extensions==4.16.0")
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PYTHON_VERSION = "3.13"
#: 1980-01-01, the earliest time a zip entry can hold.
EPOCH = (1980, 1, 1, 0, 0, 0)
#: Installer bookkeeping that differs between machines and means nothing at run time.
_SKIP_NAMES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_SKIP_DIRS = {"__pycache__", "tests"}
#: Powertools parts tgsync never imports (event handlers, parsers, idempotency...):
#: most of its size. The zip test runs a real cycle from the unpacked zip to prove it.
_POWERTOOLS_KEEP_UTILITIES = {"jmespath_utils", "typing"}
_UTILITY_DEPTH = 3  # aws_lambda_powertools/utilities/<name>/...
SOURCE = Path(__file__).resolve().parent


def _pruned(relative: Path) -> bool:
    parts = relative.parts
    if parts[:2] == ("aws_lambda_powertools", "event_handler"):
        return True
    if parts[:2] == ("tgsync", "cdk.py"):
        return True
    return (parts[:2] == ("aws_lambda_powertools", "utilities") and len(parts) > _UTILITY_DEPTH
            and parts[2] not in _POWERTOOLS_KEEP_UTILITIES)


def install(target: Path, arch: str, requirements: Sequence[str] = PINNED) -> None:
    """pip-install the pinned dependencies for Lambda's platform, and tgsync, into
    ``target``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
         "--disable-pip-version-check", "--only-binary=:all:",
         "--platform", PLATFORMS[arch], "--python-version", PYTHON_VERSION,
         "--implementation", "cp", "--target", str(target), *requirements],
        check=True)
    shutil.copytree(SOURCE, target / "tgsync",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _files(tree: Path) -> list[Path]:
    keep = []
    for path in tree.rglob("*"):
        if not path.is_file() or path.suffix == ".pyc" or path.name in _SKIP_NAMES:
            continue
        relative = path.relative_to(tree)
        if _SKIP_DIRS & set(relative.parts) or _pruned(relative):
            continue
        keep.append(path)
    return sorted(keep, key=lambda p: p.relative_to(tree).as_posix())


def write_zip(tree: Path, destination: Path) -> None:
    """Zip ``tree`` deterministically."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=9) as archive:
        for path in _files(tree):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(arch: str, destination: Path, requirements: Sequence[str] = PINNED) -> Path:
    """Build the zip for ``arch`` at ``destination``; return its path."""
    if arch not in PLATFORMS:
        raise ValueError(f"unknown architecture {arch!r}; use one of {', '.join(PLATFORMS)}")
    with tempfile.TemporaryDirectory(prefix="tgsync-package-") as work:
        tree = Path(work) / "tree"
        install(tree, arch, requirements)
        write_zip(tree, destination)
    return destination


def sha256(path: Path) -> str:
    """The file's SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
