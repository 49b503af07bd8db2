"""Release checks and notes: ``make release VERSION=x.y.z`` and the release workflow.

``check VERSION`` fails, naming what disagrees, unless CHANGELOG.md has a ``## VERSION``
section, ``tgsync.__version__`` is VERSION, the SAR metadata of the generated SAM
template says VERSION, and the tag ``vVERSION`` is either new or already on HEAD. It
then prints the git commands that tag and push the release; it never runs them.

``notes VERSION`` prints CHANGELOG.md's section for VERSION (without its heading): the
GitHub release's notes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import sam_template

ROOT = Path(__file__).resolve().parent.parent
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
_HEADING = re.compile(r"^## +(\S+)", flags=re.MULTILINE)


def changelog_section(changelog: str, version: str) -> str | None:
    """The body of the ``## version`` section of ``changelog``, or None if it has none.

    The heading may carry more after the version (``## 1.2.0 (2026-01-31)``); the
    section runs to the next ``## `` heading.
    """
    headings = list(_HEADING.finditer(changelog))
    for here, after in zip(headings, [*headings[1:], None], strict=True):
        if here[1] == version:
            end = after.start() if after else len(changelog)
            return changelog[here.end() : end].split("\n", 1)[-1].strip("\n") + "\n"
    return None


def sar_version(template: str) -> str | None:
    """The ``SemanticVersion`` of the SAR metadata in a generated SAM template."""
    block = template.split("  AWS::ServerlessRepo::Application:\n", 1)
    if len(block) < 2:
        return None
    found = re.search(r'^    SemanticVersion: "?([^"\n]+)"?$', block[1], flags=re.MULTILINE)
    return found[1] if found else None


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        raise SystemExit("release.py: git is not on PATH")
    done = subprocess.run(
        [git, "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def problems(version: str, root: Path | None = None) -> list[str]:
    """What disagrees with releasing ``version`` from ``root`` (the repository's root by
    default); empty when all agree."""
    root = root or ROOT
    if not _SEMVER.fullmatch(version):
        return [f"VERSION={version!r} is not x.y.z (three numbers, no leading zeros, no 'v')"]
    found: list[str] = []
    changelog = root / "CHANGELOG.md"
    if changelog_section(changelog.read_text(encoding="utf-8"), version) is None:
        found.append(f"CHANGELOG.md has no '## {version}' section")
    package = sam_template.package_version(root / "src" / "tgsync" / "__init__.py")
    if package != version:
        found.append(
            f"tgsync.__version__ is {package!r} in src/tgsync/__init__.py, not {version!r}"
        )
    template = root / "deploy" / "sam" / "template.yaml"
    sar = sar_version(template.read_text(encoding="utf-8"))
    if sar != version:
        found.append(
            f"the SAR metadata's SemanticVersion in deploy/sam/template.yaml is "
            f"{sar!r}, not {version!r} (run make sam-template)"
        )
    head = _git(root, "rev-parse", "--verify", "HEAD^{commit}")
    tagged = _git(root, "rev-parse", "-q", "--verify", f"refs/tags/v{version}^{{commit}}")
    if head is None:
        found.append(f"{root} is not a git checkout with a commit")
    elif tagged is not None and tagged != head:
        found.append(f"tag v{version} already exists on {tagged[:12]}, not on HEAD ({head[:12]})")
    return found


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """``check VERSION`` or ``notes VERSION`` in ``root``; see the module's docstring."""
    root = root or ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "notes"])
    parser.add_argument("version", help="x.y.z, without the tag's v")
    args = parser.parse_args(argv)
    version: str = args.version.removeprefix("v") if args.command == "notes" else args.version
    if args.command == "notes":
        notes = changelog_section((root / "CHANGELOG.md").read_text(encoding="utf-8"), version)
        if notes is None:
            print(f"release.py: CHANGELOG.md has no '## {version}' section", file=sys.stderr)
            return 1
        sys.stdout.write(notes)
        return 0
    found = problems(version, root)
    if found:
        print(f"make release: {version} cannot be released yet:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    tag = f"v{version}"
    commands = [f"git push origin {tag}"]
    if _git(root, "rev-parse", "-q", "--verify", f"refs/tags/{tag}") is None:
        commands.insert(0, f"git tag -a {tag} -m 'tgsync {version}'")
    print(
        f"{version} agrees everywhere: CHANGELOG.md, tgsync.__version__, the SAR "
        f"metadata, tag {tag}. To release it (nothing was pushed):\n\n"
        + "".join(f"  {command}\n" for command in commands)
        + "\n"
        "The tag's push runs .github/workflows/release.yml (PyPI, the GitHub release)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
