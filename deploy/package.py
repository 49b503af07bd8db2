"""Build the Lambda deployment zip: ``make package`` (``ARCH=arm64`` or ``x86_64``).

The zip holds tgsync and its pure-Python dependencies (``src/requirements.txt``,
pinned), built for the chosen architecture and Python 3.13. boto3 and botocore come
with the Lambda runtime and are left out, and so are the parts of Powertools that
tgsync does not use. The same source and pins always give the
same bytes: entries are sorted, timestamps fixed, permissions normalised, and no
bytecode or installer records are kept.

Prints the zip's path, size and SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "src" / "requirements.txt"
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


def _pruned(relative: Path) -> bool:
    parts = relative.parts
    if parts[:2] == ("aws_lambda_powertools", "event_handler"):
        return True
    return (parts[:2] == ("aws_lambda_powertools", "utilities") and len(parts) > 3
            and parts[2] not in _POWERTOOLS_KEEP_UTILITIES)


def install(target: Path, arch: str) -> None:
    """pip-install the pinned dependencies for Lambda's platform into ``target``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
         "--disable-pip-version-check", "--only-binary=:all:",
         "--platform", PLATFORMS[arch], "--python-version", PYTHON_VERSION,
         "--implementation", "cp", "--target", str(target), "-r", str(REQUIREMENTS)],
        check=True)
    shutil.copytree(ROOT / "src" / "tgsync", target / "tgsync",
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


def build(arch: str = "arm64", destination: Path | None = None) -> Path:
    """Build the zip for ``arch``; return its path."""
    if arch not in PLATFORMS:
        raise SystemExit(f"unknown architecture {arch!r}; use one of {', '.join(PLATFORMS)}")
    destination = destination or ROOT / "dist" / f"tgsync-lambda-{arch}.zip"
    with tempfile.TemporaryDirectory(prefix="tgsync-package-") as work:
        tree = Path(work) / "tree"
        install(tree, arch)
        write_zip(tree, destination)
    return destination


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
