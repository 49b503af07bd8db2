"""Derive ``deploy/sam/template.yaml`` from ``deploy/tgsync.yaml``.

``tgsync.yaml`` is the one source of truth. For ``sam build && sam deploy --guided``
the function must be an ``AWS::Serverless::Function`` built from ``src/`` (with
``src/requirements.txt``) instead of a zip already in S3; everything else is the same.
Run ``make sam-template`` after changing ``tgsync.yaml``; a test fails while the
two disagree.

It also adds the ``AWS::ServerlessRepo::Application`` metadata that ``sam publish``
reads, taken from ``pyproject.toml`` and ``tgsync.__version__`` so that the
application's version and description cannot drift from the package's.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = HERE / "tgsync.yaml"
TARGET = HERE / "sam" / "template.yaml"
PYPROJECT = ROOT / "pyproject.toml"
VERSION_FILE = ROOT / "src" / "tgsync" / "__init__.py"

#: Search terms of the application in the Serverless Application Repository.
LABELS = ("elbv2", "target-group", "dns", "opensearch", "load-balancer", "lambda")
#: ``[project.urls]`` keys (as PyPI reads them, case-insensitively) for the SAR's URLs.
_HOME_KEYS = ("homepage", "home", "documentation")
_SOURCE_KEYS = ("source", "repository", "source code", "code")

_HEADER = (
    "# Generated from deploy/tgsync.yaml by deploy/sam_template.py "
    "(make sam-template): do not edit.\n"
)
_REPLACEMENTS = (
    (
        'AWSTemplateFormatVersion: "2010-09-09"\n',
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n',
    ),
    (
        "      - Label: { default: Function }\n"
        "        Parameters: [CodeBucket, CodeBucketPrefix, CodeKey, CodeObjectVersion, "
        "CodeSigningConfigArn, Architecture,",
        "      - Label: { default: Function }\n"
        "        Parameters: [CodeSigningConfigArn, Architecture,",
    ),
    (
        "  CodeBucket:\n"
        "    Type: String\n"
        '    Default: ""\n'
        "    Description: >-\n"
        "      S3 bucket holding the function zip (make deploy uploads it). Empty when\n"
        "      CodeBucketPrefix is set.\n"
        "  CodeBucketPrefix:\n"
        "    Type: String\n"
        '    Default: ""\n'
        "    # The bucket is PREFIX-REGION, at most 63 characters: the longest region is 14.\n"
        '    AllowedPattern: "^([a-z0-9][a-z0-9.-]{0,47})?$"\n'
        "    ConstraintDescription: empty, or up to 48 lowercase letters, digits, dots and "
        "hyphens\n"
        "    Description: >-\n"
        "      Instead of CodeBucket: the zip is in the bucket PREFIX-REGION of the stack's own\n"
        "      region (make stackset uploads it to each), so one parameter set serves every "
        "region\n"
        "      of a StackSet.\n"
        "  CodeKey:\n"
        "    Type: String\n"
        "    Description: S3 key of the function zip.\n"
        "  CodeObjectVersion:\n"
        "    Type: String\n"
        '    Default: ""\n'
        "    Description: >-\n"
        "      S3 object version of the function zip; make deploy and make stackset set it to\n"
        "      the version their upload returned (the bucket must keep versions), so the stack\n"
        "      deploys exactly the object uploaded, whatever is written at CodeKey later.\n",
        "",
    ),
    (
        "  # make stackset pins each region's code by version (per-region overrides); the stack\n"
        "  # set's own value is per-region, which AWS gives an account that joins an OU later:\n"
        "  # it fails closed here rather than running whatever then sits at CodeKey.\n"
        "  CodeVersionOfTheRegion:\n"
        "    Assertions:\n"
        "      - Assert: !Not [!Equals [!Ref CodeObjectVersion, per-region]]\n"
        "        AssertDescription: >-\n"
        "          No code version for this region (an account that joined the StackSet's OUs\n"
        "          after make stackset ran): run make stackset again, which pins each region's\n"
        "          code by its S3 version.\n",
        "",
    ),
    (
        '  HasCodeObjectVersion: !Not [!Equals [!Ref CodeObjectVersion, ""]]\n'
        '  HasCodeBucketPrefix: !Not [!Equals [!Ref CodeBucketPrefix, ""]]\n',
        "",
    ),
    (
        "  OneCodeBucket:\n"
        "    Assertions:\n"
        "      - Assert: !Or\n"
        '          - !And [!Equals [!Ref CodeBucket, ""], !Not [!Equals [!Ref CodeBucketPrefix, '
        '""]]]\n'
        '          - !And [!Not [!Equals [!Ref CodeBucket, ""]], !Equals [!Ref CodeBucketPrefix, '
        '""]]\n'
        "        AssertDescription: Set CodeBucket, or CodeBucketPrefix for a bucket per region; "
        "not both.\n",
        "",
    ),
    (
        "    Description: Build the zip for the same architecture (make package ARCH=...).",
        "    Description: Architecture of the function (sam build installs for it).",
    ),
    (
        "  Function:\n    Type: AWS::Lambda::Function\n",
        "  Function:\n    Type: AWS::Serverless::Function\n",
    ),
    (
        "      Code:\n"
        '        S3Bucket: !If [HasCodeBucketPrefix, !Sub "${CodeBucketPrefix}-${AWS::Region}", '
        "!Ref CodeBucket]\n"
        "        S3Key: !Ref CodeKey\n"
        "        S3ObjectVersion: !If [HasCodeObjectVersion, !Ref CodeObjectVersion, "
        "!Ref AWS::NoValue]\n",
        "      CodeUri: ../../src\n",
    ),
    ("      TracingConfig: { Mode: PassThrough }\n", "      Tracing: PassThrough\n"),
)


def package_version(path: Path = VERSION_FILE) -> str:
    """``tgsync.__version__``, read as setuptools reads it (without importing tgsync)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "__version__"
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise SystemExit(f"sam_template.py: no __version__ string in {path}")


def _url(urls: dict[str, str], keys: tuple[str, ...]) -> str | None:
    by_key = {key.lower(): url for key, url in urls.items()}
    return next((by_key[key] for key in keys if key in by_key), None)


def application(project: dict[str, Any], version: str) -> dict[str, Any]:
    """The ``AWS::ServerlessRepo::Application`` metadata for pyproject's ``[project]``.

    The licence and README are files next to the repository root (``sam publish``
    uploads them); the home page and source URLs come from ``[project.urls]`` and are
    left out while it has none, rather than guessed.
    """
    authors = project.get("authors") or [{}]
    author = str(authors[0].get("name") or project["name"])
    meta: dict[str, Any] = {
        "Name": project["name"],
        "Description": project["description"],
        # The SAR takes lowercase letters, digits and single hyphens only.
        "Author": re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", author.lower())).strip("-"),
        "SpdxLicenseId": project["license"],
        "LicenseUrl": "../../LICENSE",
        "ReadmeUrl": "../../README.md",
        "Labels": list(LABELS),
        "SemanticVersion": version,
    }
    urls = project.get("urls") or {}
    for key, keys in (("HomePageUrl", _HOME_KEYS), ("SourceCodeUrl", _SOURCE_KEYS)):
        url = _url(urls, keys)
        if url:
            meta[key] = url
    return meta


def _metadata_block(meta: dict[str, Any]) -> str:
    # JSON strings and lists are valid YAML flow scalars, so no quoting rules to get wrong.
    lines = ["  AWS::ServerlessRepo::Application:\n"]
    lines += [f"    {key}: {json.dumps(value)}\n" for key, value in meta.items()]
    return "".join(lines)


def render(source: str, meta: dict[str, Any] | None = None) -> str:
    """The SAM template for ``source``; fails loudly if tgsync.yaml changed shape.

    ``meta`` is the SAR metadata, by default that of ``pyproject.toml`` and
    ``tgsync.__version__``.
    """
    if meta is None:
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
        meta = application(project, package_version())
    text = source
    replacements = (*_REPLACEMENTS, ("\nMetadata:\n", "\nMetadata:\n" + _metadata_block(meta)))
    for old, new in replacements:
        if text.count(old) != 1:
            raise SystemExit(
                f"sam_template.py: expected exactly one {old[:60]!r} in "
                f"{SOURCE.name}; update _REPLACEMENTS"
            )
        text = text.replace(old, new)
    return _HEADER + text


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
