"""The command line of a script that writes a tracked file generated from the sources.

``docs/gen_config.py`` (the configuration page) and ``deploy/terraform_gen.py`` (the
Terraform module's ``settings.tf``) are such scripts: without arguments each rewrites
its file; with ``--check`` it exits 1, naming the make target that rewrites it, while the
committed file differs from what it would write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(
    target: Path,
    render: Callable[[], str],
    *,
    remedy: str,
    description: str,
    argv: list[str] | None = None,
) -> int:
    """Write ``render()`` to ``target``, or with ``--check`` report whether ``target``
    is stale (``remedy``: what rewrites it, e.g. ``make docs``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    name = target.relative_to(ROOT)
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{name} is stale: run {remedy}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {name}")
    return 0
