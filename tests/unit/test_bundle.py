"""The zip's inputs: git-tracked source only, dependencies only with the lock's hashes,
and the same bytes from the same inputs (offline: no dependency is installed here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tgsync import bundle

REPO = Path(__file__).resolve().parents[2]
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        [
            GIT or "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path):
    """A git checkout whose package ``tgsync`` has two tracked modules and the construct's
    package."""
    package = tmp_path / "repo" / "tgsync"
    (package / "sub").mkdir(parents=True)
    (package / "cdk" / "parts").mkdir(parents=True)
    (package / "__init__.py").write_text("VERSION = 1\n")
    (package / "sub" / "mod.py").write_text("X = 1\n")
    for name in ("__init__.py", "construct.py", "parts/role.py"):
        (package / "cdk" / name).write_text("# synth time only\n")
    git(package.parent, "init", "-q")
    git(package.parent, "add", ".")
    git(package.parent, "commit", "-q", "-m", "source")
    return package


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


@needs_git
def test_an_untracked_file_in_the_package_stays_out_of_the_zip(checkout, tmp_path):
    (checkout / "notes-with-a-secret.txt").write_text("token=...\n")
    (checkout / "sub" / "scratch.py").write_text("print('debug')\n")
    (checkout / "__pycache__").mkdir()
    (checkout / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
    zipped = bundle.build("arm64", tmp_path / "out.zip", [], source=checkout)
    assert names(zipped) == ["tgsync/__init__.py", "tgsync/sub/mod.py"]


@needs_git
def test_a_tracked_file_goes_in_with_its_working_tree_content(checkout, tmp_path):
    (checkout / "sub" / "mod.py").write_text("X = 2\n")  # edited, not yet committed
    zipped = bundle.build("x86_64", tmp_path / "out.zip", [], source=checkout)
    with zipfile.ZipFile(zipped) as archive:
        assert archive.read("tgsync/sub/mod.py") == b"X = 2\n"


@needs_git
def test_the_same_source_gives_the_same_bytes(checkout, tmp_path):
    first = bundle.build("arm64", tmp_path / "a.zip", [], source=checkout)
    os.utime(checkout / "__init__.py", (1_000_000_000, 1_000_000_000))
    (checkout / "sub" / "mod.py").chmod(0o600)
    second = bundle.build("arm64", tmp_path / "b.zip", [], source=checkout)
    assert first.read_bytes() == second.read_bytes()
    assert bundle.sha256(first) == bundle.sha256(second)


def test_outside_a_checkout_and_not_installed_the_build_says_why(tmp_path):
    package = tmp_path / "tgsync"
    package.mkdir()
    (package / "__init__.py").write_text("")
    with pytest.raises(bundle.BundleError, match="neither in a git checkout"):
        bundle.source_files(package)


def test_an_installed_tgsync_bundles_what_its_record_lists(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    package = site / "tgsync"
    package.mkdir(parents=True)
    for name in ("__init__.py", "plan.py", "stray.py"):
        (package / name).write_text("")

    class Entry:
        def __init__(self, relative: str) -> None:
            self.relative = relative

        def locate(self) -> Path:
            return site / self.relative

    record = [
        Entry("tgsync/__init__.py"),
        Entry("tgsync/plan.py"),
        Entry("tgsync-0.3.0.dist-info/METADATA"),
        Entry("../../bin/tgsync"),
    ]
    monkeypatch.setattr(bundle.importlib.metadata, "files", lambda name: record)
    assert bundle.source_files(package) == [Path("__init__.py"), Path("plan.py")]


def test_every_pin_is_hashed_from_the_lock(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# comment\nfoo==1.0 \\\n    --hash=sha256:" + "a" * 64 + " \\\n"
        "    --hash=sha256:" + "b" * 64 + "\n"
    )
    assert bundle.read_lock(lock) == {"foo==1.0": ("a" * 64, "b" * 64)}
    assert bundle.hashed_requirements(["foo==1.0"], lock) == [
        f"foo==1.0 --hash=sha256:{'a' * 64} --hash=sha256:{'b' * 64}"
    ]
    with pytest.raises(bundle.BundleError, match=r"bar==2\.0 is not in .*make lock"):
        bundle.hashed_requirements(["bar==2.0"], lock)
    lock.write_text("foo==1.0\n")
    with pytest.raises(bundle.BundleError, match="needs --hash"):
        bundle.read_lock(lock)
    lock.write_text(f"foo>=1.0 --hash=sha256:{'a' * 64}\n")
    with pytest.raises(bundle.BundleError, match="name==version"):
        bundle.read_lock(lock)


def test_the_lock_holds_exactly_the_pins_of_requirements_txt_each_hashed():
    pins = [
        line.strip()
        for line in (REPO / "src" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    locked = bundle.read_lock()
    assert list(locked) == pins, "run make lock"
    assert tuple(locked) == bundle.PINNED
    assert all(len(hashes) >= 1 for hashes in locked.values())


def test_the_lock_ships_in_the_package_and_stays_out_of_the_zip():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"requirements.lock"' in pyproject
    assert bundle._pruned(Path("tgsync") / bundle.LOCK.name)
    assert not bundle._pruned(Path("tgsync/plan.py"))


def test_no_file_of_the_cdk_package_is_bundled():
    for name in ("__init__.py", "construct.py", "role.py", "parts/deeper.py", "cdk.py"):
        assert bundle._pruned(Path("tgsync/cdk") / name), name
    assert not bundle._pruned(Path("tgsync/cdkish.py"))
    assert not bundle._pruned(Path("tgsync/provider/cdk.py"))


@needs_git
def test_the_real_package_zips_without_its_cdk_package(tmp_path):
    """tgsync's own source (no dependencies, so offline): the construct's package is
    tracked, and none of its files reaches the zip the function runs from."""
    tracked = [p.as_posix() for p in bundle.source_files()]
    assert "cdk/__init__.py" in tracked and "cdk/construct.py" in tracked
    zipped = names(bundle.build("arm64", tmp_path / "out.zip", []))
    assert [n for n in zipped if n.startswith("tgsync/cdk")] == []
    assert "tgsync/lambda_handler.py" in zipped and "tgsync/provider/elbv2.py" in zipped
