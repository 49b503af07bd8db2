"""Deploy tgsync in one command: ``make deploy BUCKET=my-bucket`` (see README).

Builds the Lambda zip, uploads it (and the template, and any nested template) to the
S3 bucket you name, creates or updates the CloudFormation stack, waits, and prints
the stack's outputs. AWS credentials, region and endpoint come from the standard
AWS settings (``AWS_PROFILE``, ``AWS_REGION``, ...).

Exit codes: 0 deployed (or nothing to change), 1 the stack failed, 2 bad input or
missing credentials, region or bucket.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import package  # the sibling script, importable wherever deploy.py is run from

HERE = Path(__file__).resolve().parent
DEFAULT_TEMPLATE = HERE / "tgsync.yaml"
PREFIX = "tgsync"
_NESTED = re.compile(r"^(?P<indent>\s*)TemplateURL:\s*(?P<path>\S+\.ya?ml)\s*$", re.MULTILINE)


class DeployError(Exception):
    """Something the user must fix; the message says what."""


def session_for(region: str | None) -> boto3.session.Session:
    """A session with credentials and a region, or a clear error saying what is missing."""
    # botocore reads AWS_DEFAULT_REGION and profiles; AWS_REGION is what other SDKs use.
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION"))
    if not session.region_name:
        raise DeployError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a "
                          "region in your AWS profile), or pass --region")
    if session.get_credentials() is None:
        raise DeployError("no AWS credentials: run `aws configure` or `aws sso login` and "
                          "set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY")
    return session


def parse_parameters(pairs: list[str], path: Path | None) -> dict[str, str]:
    """``Key=Value`` pairs and an optional JSON file of {Key: Value}; pairs win."""
    values: dict[str, str] = {}
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DeployError(f"--parameters-file {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise DeployError(f"--parameters-file {path}: must be a JSON object "
                              '{"Hostname": "...", ...}')
        values.update({str(k): _text(v) for k, v in loaded.items()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"--parameter {pair!r}: write Key=Value, e.g. "
                              "Hostname=vpc-logs-abc123.eu-west-1.es.amazonaws.com")
        values[key] = value
    return values


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


def upload(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Put ``body`` at ``key`` unless it is there already; return the key."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return key
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def content_key(stem: str, body: bytes, suffix: str) -> str:
    """A key that changes exactly when the content does, so updates are picked up."""
    return f"{PREFIX}/{stem}-{hashlib.sha256(body).hexdigest()[:16]}{suffix}"


def s3_url(s3: Any, bucket: str, key: str) -> str:
    """The object's URL as CloudFormation fetches it (not the client's endpoint)."""
    region = s3.meta.region_name
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def package_template(s3: Any, bucket: str, template: Path) -> str:
    """The template text, with local nested templates uploaded and pointed at S3."""
    text = template.read_text(encoding="utf-8")

    def nested(match: re.Match[str]) -> str:
        child = (template.parent / match["path"]).resolve()
        if not child.exists():
            raise DeployError(f"{template}: nested template {match['path']} not found")
        body = package_template(s3, bucket, child).encode()
        key = upload(s3, bucket, content_key(f"templates/{child.stem}", body, ".yaml"), body)
        return f"{match['indent']}TemplateURL: {s3_url(s3, bucket, key)}"

    return _NESTED.sub(nested, text)


def deploy(args: argparse.Namespace) -> int:
    session = session_for(args.region)
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    try:
        s3.head_bucket(Bucket=args.bucket)
    except ClientError as exc:
        raise DeployError(f"bucket {args.bucket!r} is not reachable with these credentials "
                          f"({exc.response.get('Error', {}).get('Code')}); create it in "
                          f"{session.region_name} or name another with BUCKET=") from None
    except NoCredentialsError as exc:
        raise DeployError(str(exc)) from None

    parameters = parse_parameters(args.parameter, args.parameters_file)
    zip_path = package.build(args.arch)
    code = zip_path.read_bytes()
    code_key = upload(s3, args.bucket, content_key(f"tgsync-lambda-{args.arch}", code, ".zip"),
                      code)
    print(f"uploaded s3://{args.bucket}/{code_key} ({zip_path.stat().st_size / 1e6:.2f} MB)")
    parameters.setdefault("CodeBucket", args.bucket)
    parameters.setdefault("CodeKey", code_key)
    parameters.setdefault("Architecture", args.arch)

    body = package_template(s3, args.bucket, args.template).encode()
    template_key = upload(s3, args.bucket,
                          content_key(f"templates/{args.template.stem}", body, ".yaml"), body)
    request = {
        "StackName": args.stack_name,
        "TemplateURL": s3_url(s3, args.bucket, template_key),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v}
                       for k, v in sorted(parameters.items())],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": "app", "Value": "tgsync"}],
    }
    exists = _stack_exists(cloudformation, args.stack_name)
    try:
        if exists:
            cloudformation.update_stack(**request)
        else:
            cloudformation.create_stack(**request)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "No updates are to be performed" in message:
            print(f"stack {args.stack_name}: already up to date")
            return _print_outputs(cloudformation, args.stack_name)
        raise DeployError(f"CloudFormation refused the stack: {message}") from None
    verb = "updating" if exists else "creating"
    print(f"{verb} stack {args.stack_name} in {session.region_name} ...")
    waiter = cloudformation.get_waiter("stack_update_complete" if exists
                                       else "stack_create_complete")
    try:
        waiter.wait(StackName=args.stack_name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
    except WaiterError:
        _print_failures(cloudformation, args.stack_name)
        return 1
    return _print_outputs(cloudformation, args.stack_name)


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError:
        return False
    return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"


def _print_outputs(cloudformation: Any, name: str) -> int:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    print(f"stack {name}: {stack['StackStatus']}")
    for output in stack.get("Outputs", []):
        print(f"  {output['OutputKey']:<16} {output['OutputValue']}")
    return 0


def _print_failures(cloudformation: Any, name: str) -> None:
    print(f"stack {name} did not complete; the failed resources:", file=sys.stderr)
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    for event in events[:50]:
        if event.get("ResourceStatus", "").endswith("FAILED"):
            print(f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}",
                  file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True,
                        help="S3 bucket, in the stack's region, for the zip and templates")
    parser.add_argument("--stack-name", default="tgsync")
    parser.add_argument("--region", default=None, help="default: the standard AWS settings")
    parser.add_argument("--arch", choices=sorted(package.PLATFORMS), default="arm64")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE,
                        help="deploy/tgsync.yaml (default) or deploy/example-opensearch-alb.yaml")
    parser.add_argument("--parameter", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="a stack parameter; repeat for more")
    parser.add_argument("--parameters-file", type=Path, default=None,
                        help='JSON object of parameters, e.g. {"Hostname": "...", ...}')
    args = parser.parse_args(argv)
    try:
        return deploy(args)
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"deploy: AWS said: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
