"""The Lambda deployment zip: tgsync and its pinned pure-Python dependencies.

Built for the chosen architecture and Python 3.13. boto3 and botocore come with the
Lambda runtime and are left out, and so are the parts of Powertools that tgsync does
not use, and tgsync's CDK construct (it runs at synth time, never in the function).
The same source and pins always give the same bytes: entries are sorted, timestamps
fixed, permissions normalised, and no bytecode or installer records are kept.

What goes in, and nothing else:

- tgsync's files as git tracks them (``git ls-files``: an untracked file in the
  package folder stays out). Outside a git checkout, as when the CDK construct runs
  from an installed ``tgsync``, the files the installed distribution's ``RECORD``
  lists; with neither, the build stops and says so.
- the dependencies of :data:`LOCK` (``make lock`` writes it from
  ``src/requirements.txt``), installed with ``pip --require-hashes``: a wheel whose
  SHA-256 is not in the lock is refused.

``deploy/package.py`` (``make package``) and the CDK construct both build with this
module, so the stack and the construct deploy the same zip.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tgsync.errors import TgsyncError

SOURCE = Path(__file__).resolve().parent
#: The dependencies' pins and the SHA-256 of every wheel pip may pick for them on either
#: architecture; shipped in the package so that an installed construct builds with it.
LOCK = SOURCE / "requirements.lock"
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
#: tgsync files that are build-time only: the lock itself...
_SOURCE_ONLY = {LOCK.name}
#: ... and tgsync folders that are: the CDK construct's package, every file in it.
_SOURCE_ONLY_PACKAGES = {"cdk"}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")
_HASH = re.compile(r"--hash=sha256:(?P<digest>[0-9a-f]{64})\b")


class BundleError(TgsyncError):
    """The zip cannot be built as asked; the message says why and what to do."""


def read_lock(path: Path = LOCK) -> dict[str, tuple[str, ...]]:
    """``{"name==version": (sha256 hex, ...)}`` from a lock in pip's hash format."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"no lock at {path} ({exc.strerror}): run `make lock`") from None
    locked: dict[str, tuple[str, ...]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()  # noqa: PLW2901 - the line, comment cut off
        if not line:
            continue
        pin, *options = line.split()
        if not _PIN.match(pin):
            raise BundleError(f"{path}: {pin!r} is not pinned as name==version")
        hashes = tuple(m["digest"] for option in options if (m := _HASH.fullmatch(option)))
        if not hashes or len(hashes) != len(options):
            raise BundleError(f"{path}: {pin} needs --hash=sha256:... and nothing else")
        locked[pin] = hashes
    return locked


#: What the function bundles besides tgsync: the lock's pins. ``src/requirements.txt``
#: (read by ``sam build`` and ``make lock``) holds the same pins, and a test keeps the
#: two equal.
PINNED = tuple(read_lock()) if LOCK.exists() else ()


def hashed_requirements(requirements: Sequence[str], lock: Path = LOCK) -> list[str]:
    """Each pin as one requirements-file line carrying the lock's hashes for it.

    A line that has its own ``--hash`` options is kept as it is; a pin missing from the
    lock is refused, so nothing is installed on trust.
    """
    locked: dict[str, tuple[str, ...]] | None = None
    lines = []
    for requirement in requirements:
        if "--hash=" in requirement:
            lines.append(requirement.strip())
            continue
        locked = read_lock(lock) if locked is None else locked
        pin = requirement.strip()
        if pin not in locked:
            raise BundleError(
                f"{pin} is not in {lock.name}: add it to src/requirements.txt and run `make lock`"
            )
        lines.append(" ".join([pin, *(f"--hash=sha256:{h}" for h in locked[pin])]))
    return lines


def source_files(source: Path = SOURCE) -> list[Path]:
    """tgsync's files to bundle, relative to ``source``, sorted.

    In a git checkout: what git tracks there (an untracked file stays out). Otherwise
    (an installed tgsync): what the installed distribution's ``RECORD`` lists.
    """
    tracked = _git_tracked(source)
    if tracked is None:
        tracked = _installed(source)
    if tracked is None:
        raise BundleError(
            f"{source} is neither in a git checkout that tracks it nor an "
            "installed tgsync: build from a clone of the repository "
            "(git ls-files decides what goes in) or from `pip install tgsync`"
        )
    return sorted(
        p
        for p in tracked
        if (source / p).is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _git_tracked(source: Path) -> list[Path] | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(source), "ls-files", "-z", "--cached", "--", "."],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [n for n in done.stdout.decode("utf-8", "replace").split("\0") if n]
    # Not a checkout, or one that does not track this folder (a virtualenv inside a
    # project's clone): then git has no say.
    if done.returncode != 0 or "__init__.py" not in names:
        return None
    return [Path(name) for name in names]


def _installed(source: Path) -> list[Path] | None:
    try:
        files = importlib.metadata.files("tgsync") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    inside = []
    for entry in files:
        try:
            inside.append(Path(str(entry.locate())).resolve().relative_to(source))
        except ValueError:
            continue  # another package's folder, the dist-info, a script
    return inside if Path("__init__.py") in inside else None


def install(
    target: Path,
    arch: str,
    requirements: Sequence[str] | None = None,
    *,
    source: Path = SOURCE,
    lock: Path = LOCK,
) -> None:
    """pip-install the locked dependencies for Lambda's platform, and tgsync, into
    ``target``.

    ``requirements``: pins (``name==version``, hashed from ``lock``) or lines with
    their own ``--hash`` options; default: everything the lock holds. pip runs with
    ``--require-hashes``.
    """
    pins = list(read_lock(lock)) if requirements is None else list(requirements)
    target.mkdir(parents=True, exist_ok=True)
    if pins:
        with tempfile.TemporaryDirectory(prefix="tgsync-lock-") as work:
            hashed = Path(work) / "requirements.txt"
            hashed.write_text("\n".join(hashed_requirements(pins, lock)) + "\n", encoding="utf-8")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-compile",
                    "--disable-pip-version-check",
                    "--require-hashes",
                    "--only-binary=:all:",
                    "--platform",
                    PLATFORMS[arch],
                    "--python-version",
                    PYTHON_VERSION,
                    "--implementation",
                    "cp",
                    "--target",
                    str(target),
                    "-r",
                    str(hashed),
                ],
                check=True,
            )
    for relative in source_files(source):
        destination = target / "tgsync" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, destination)


def _pruned(relative: Path) -> bool:
    parts = relative.parts
    if parts[:2] == ("aws_lambda_powertools", "event_handler"):
        return True
    if parts[0] == "tgsync" and len(parts) > 1:
        name, inside = parts[1], parts[2:]
        if (name in _SOURCE_ONLY and not inside) or (name in _SOURCE_ONLY_PACKAGES and inside):
            return True
    return (
        parts[:2] == ("aws_lambda_powertools", "utilities")
        and len(parts) > _UTILITY_DEPTH
        and parts[2] not in _POWERTOOLS_KEEP_UTILITIES
    )


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
    with zipfile.ZipFile(
        destination, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as archive:
        for path in _files(tree):
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(
    arch: str,
    destination: Path,
    requirements: Sequence[str] | None = None,
    *,
    source: Path = SOURCE,
    lock: Path = LOCK,
) -> Path:
    """Build the zip for ``arch`` at ``destination``; return its path.

    ``requirements`` as for :func:`install` (default: the lock's pins); ``source``:
    the tgsync package folder to bundle (default: this one).
    """
    if arch not in PLATFORMS:
        raise ValueError(f"unknown architecture {arch!r}; use one of {', '.join(PLATFORMS)}")
    with tempfile.TemporaryDirectory(prefix="tgsync-package-") as work:
        tree = Path(work) / "tree"
        install(tree, arch, requirements, source=source, lock=lock)
        write_zip(tree, destination)
    return destination


def sha256(path: Path) -> str:
    """The file's SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_sha256(path: Path) -> str:
    """The file's SHA-256 in base64: the form of Lambda's ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")
