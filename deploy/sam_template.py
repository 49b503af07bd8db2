"""Derive ``deploy/sam/template.yaml`` from ``deploy/tgsync.yaml``.

``tgsync.yaml`` is the one source of truth. For ``sam build && sam deploy --guided``
the function must be an ``AWS::Serverless::Function`` built from ``src/`` (with
``src/requirements.txt``) instead of a zip already in S3; everything else is the same.
Run ``make sam-template`` after changing ``tgsync.yaml``; a test fails while the
two disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tgsync.yaml"
TARGET = HERE / "sam" / "template.yaml"

_HEADER = ("# Generated from deploy/tgsync.yaml by deploy/sam_template.py "
           "(make sam-template): do not edit.\n")
_REPLACEMENTS = (
    ('AWSTemplateFormatVersion: "2010-09-09"\n',
     'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'),
    ("      - Label: { default: Function }\n"
     "        Parameters: [CodeBucket, CodeKey, CodeObjectVersion, Architecture,",
     "      - Label: { default: Function }\n"
     "        Parameters: [Architecture,"),
    ("  CodeBucket:\n"
     "    Type: String\n"
     "    Description: S3 bucket holding the function zip (make deploy uploads it).\n"
     "  CodeKey:\n"
     "    Type: String\n"
     "    Description: S3 key of the function zip.\n"
     "  CodeObjectVersion:\n"
     "    Type: String\n"
     "    Default: \"\"\n"
     "    Description: >-\n"
     "      S3 object version of the function zip; make deploy sets it on a versioned bucket,\n"
     "      so the stack deploys exactly the object it uploaded.\n", ""),
    ("  HasCodeObjectVersion: !Not [!Equals [!Ref CodeObjectVersion, \"\"]]\n", ""),
    ("    Description: Build the zip for the same architecture (make package ARCH=...).",
     "    Description: Architecture of the function (sam build installs for it)."),
    ("  Function:\n    Type: AWS::Lambda::Function\n",
     "  Function:\n    Type: AWS::Serverless::Function\n"),
    ("      Code:\n"
     "        S3Bucket: !Ref CodeBucket\n"
     "        S3Key: !Ref CodeKey\n"
     "        S3ObjectVersion: !If [HasCodeObjectVersion, !Ref CodeObjectVersion, "
     "!Ref AWS::NoValue]\n",
     "      CodeUri: ../../src\n"),
    ("      TracingConfig: { Mode: PassThrough }\n", "      Tracing: PassThrough\n"),
)


def render(source: str) -> str:
    """The SAM template for ``source``; fails loudly if tgsync.yaml changed shape."""
    text = source
    for old, new in _REPLACEMENTS:
        if text.count(old) != 1:
            raise SystemExit(f"sam_template.py: expected exactly one {old[:60]!r} in "
                             f"{SOURCE.name}; update _REPLACEMENTS")
        text = text.replace(old, new)
    return _HEADER + text


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
