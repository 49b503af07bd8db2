"""Deploy tgsync in one command: ``make deploy BUCKET=my-bucket`` (see README).

Builds the Lambda zip, uploads it (and the templates) to the S3 bucket you name,
creates or updates the CloudFormation stack, waits, checks that the stack runs the
templates and the zip built here, and prints the stack's outputs. AWS credentials,
region and endpoint come from the standard AWS settings (``AWS_PROFILE``,
``AWS_REGION``, ...).

What it trusts: nothing already in the bucket, and nothing written to it after an
upload. Keys are content hashes anyone can compute, so every object is uploaded again,
with its SHA-256 for S3 to check, and every S3 call names the caller's account as the
bucket's expected owner (a bucket of another account is refused). The bucket must keep
versions: every object is deployed by the version its upload returned (``?versionId=``
on every TemplateURL, nested ones too, and ``CodeObjectVersion`` for
``Code.S3ObjectVersion``), so an object written at the same key afterwards is never
used. After the deployment the stack's template and each nested stack's
(``GetTemplate``, stage Original) must be the ones built here, and each function must
report the zip's SHA-256 as its ``CodeSha256``, or the deployment is reported as failed.

A zip built from uncommitted edits of tgsync's tracked files matches no commit: it is
refused unless ``--allow-dirty``. With ``--signing-profile`` the uploaded zip is signed
by AWS Signer, and the signed object (checked to hold the same files) is what the stack
deploys, by its version; after the deployment a function with a code signing
configuration must run signed code (:func:`tgsync.preflight.code_signing`).

Exit codes: 0 deployed (or nothing to change), 1 the stack failed or does not run what
was built here, 2 bad input or missing credentials, region or bucket.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import time
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import package  # the sibling script, importable wherever deploy.py is run from

from tgsync.permission_checks import FAIL
from tgsync.preflight import code_signing

HERE = Path(__file__).resolve().parent
DEFAULT_TEMPLATE = HERE / "tgsync.yaml"
PREFIX = "tgsync"
#: The stack parameter that pins the zip's S3 object version, when a template declares
#: it (for ``Code.S3ObjectVersion``).
VERSION_PARAMETER = "CodeObjectVersion"
#: Parameters that deploy.py fills in itself: a caller's own would bypass the checks.
OWN_PARAMETERS = ("CodeBucket", "CodeBucketPrefix", "CodeKey", VERSION_PARAMETER)
#: CreateStack's limit for a template given inline (TemplateBody), in bytes.
TEMPLATE_BODY_LIMIT = 51_200
_NESTED_STACK = "AWS::CloudFormation::Stack"
_NESTED = re.compile(r"^(?P<indent>\s*)TemplateURL:\s*(?P<path>\S+\.ya?ml)\s*$", re.MULTILINE)


class DeployError(Exception):
    """Something the user must fix; the message says what."""


def session_for(region: str | None) -> boto3.session.Session:
    """A session with credentials and a region, or a clear error saying what is missing."""
    # botocore reads AWS_DEFAULT_REGION and profiles; AWS_REGION is what other SDKs use.
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION"))
    if not session.region_name:
        raise DeployError(
            "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or a "
            "region in your AWS profile), or pass --region"
        )
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials: run `aws configure` or `aws sso login` and "
            "set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
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
            raise DeployError(
                f'--parameters-file {path}: must be a JSON object {{"Hostname": "...", ...}}'
            )
        values.update({str(k): _text(v) for k, v in loaded.items()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(
                f"--parameter {pair!r}: write Key=Value, e.g. "
                "Hostname=vpc-logs-abc123.eu-west-1.es.amazonaws.com"
            )
        values[key] = value
    return values


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class Stored:
    """An object deploy.py has just put: where, its version (versioned buckets), and
    whether it replaced different content found at the key."""

    key: str
    version: str | None
    replaced: bool


def checksum(body: bytes) -> str:
    """The SHA-256 of ``body`` in base64: S3's ``ChecksumSHA256``, Lambda's ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def upload(s3: Any, bucket: str, key: str, body: bytes, owner: str) -> Stored:
    """Put ``body`` at ``key``, always, in a bucket that account ``owner`` owns.

    Whatever was at the key is not trusted (anyone may compute the key and plant an
    object there first); S3 checks the bytes against their SHA-256.
    """
    digest = checksum(body)
    try:
        found = s3.head_object(
            Bucket=bucket, Key=key, ExpectedBucketOwner=owner, ChecksumMode="ENABLED"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        found = None
    put = s3.put_object(
        Bucket=bucket, Key=key, Body=body, ChecksumSHA256=digest, ExpectedBucketOwner=owner
    )
    replaced = found is not None and found.get("ChecksumSHA256") != digest
    return Stored(key, put.get("VersionId"), replaced)


def _stored(bucket: str, stored: Stored, body: bytes) -> str:
    """One line about an upload, saying when it replaced an object that was not ours."""
    line = f"uploaded s3://{bucket}/{stored.key} ({len(body) / 1e6:.2f} MB)"
    if stored.version:
        line += f" (version {stored.version})"
    if stored.replaced:
        line += (
            "; it replaced a different object found at that key (planted, or left "
            "by an interrupted upload): that object was not used"
        )
    return line


def content_key(stem: str, body: bytes, suffix: str) -> str:
    """A key that changes exactly when the content does, so updates are picked up."""
    return f"{PREFIX}/{stem}-{hashlib.sha256(body).hexdigest()[:16]}{suffix}"


def s3_url(s3: Any, bucket: str, stored: Stored) -> str:
    """The URL CloudFormation fetches the object from (not the client's endpoint), at
    the version its upload returned."""
    region = s3.meta.region_name
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return (
        f"https://{bucket}.s3.{region}.{suffix}/{stored.key}"
        f"?versionId={urllib.parse.quote(pinned(bucket, stored), safe='')}"
    )


def pinned(bucket: str, stored: Stored) -> str:
    """The version the upload returned: what the stack must name, never the bare key."""
    if not stored.version:
        raise DeployError(
            f"S3 returned no version for s3://{bucket}/{stored.key}: the "
            f"bucket does not keep versions. {_VERSIONING_FIX.format(bucket)}"
        )
    return stored.version


def upload_template(s3: Any, bucket: str, path: Path, body: bytes, owner: str) -> str:
    """Upload a template's text; its URL at the version just written."""
    stored = upload(s3, bucket, content_key(f"templates/{path.stem}", body, ".yaml"), body, owner)
    print(_stored(bucket, stored, body))
    return s3_url(s3, bucket, stored)


def package_template(
    s3: Any, bucket: str, template: Path, owner: str, nested: list[str] | None = None
) -> str:
    """The template text, with local nested templates uploaded and pointed at S3 (at
    the version uploaded); each nested template's text is appended to ``nested``."""
    text = template.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        child = (template.parent / match["path"]).resolve()
        if not child.exists():
            raise DeployError(f"{template}: nested template {match['path']} not found")
        body = package_template(s3, bucket, child, owner, nested)
        if nested is not None:
            nested.append(body)
        return (
            f"{match['indent']}TemplateURL: "
            f"{upload_template(s3, bucket, child, body.encode(), owner)}"
        )

    return _NESTED.sub(replace, text)


def declared_parameters(text: str) -> set[str]:
    """The parameter names a YAML template declares under its top-level ``Parameters``."""
    block = re.search(
        r"^Parameters:[ \t]*\n((?:[ \t]+\S.*\n|[ \t]*(?:#.*)?\n)*)", text, re.MULTILINE
    )
    if block is None:
        return set()
    keys = re.findall(r"^( +)([A-Za-z0-9]+):", block[1], re.MULTILINE)
    if not keys:
        return set()
    indent = min(len(spaces) for spaces, _ in keys)
    return {name for spaces, name in keys if len(spaces) == indent}


def caller_account(session: boto3.session.Session) -> str:
    """The account of the credentials: the owner every S3 call expects of the bucket."""
    try:
        return str(session.client("sts").get_caller_identity()["Account"])
    except NoCredentialsError as exc:
        raise DeployError(str(exc)) from None


_VERSIONING_FIX = (
    "Turn versioning on: aws s3api put-bucket-versioning --bucket {0} "
    "--versioning-configuration Status=Enabled"
)


def check_bucket(s3: Any, bucket: str, owner: str, region: str) -> None:
    """Refuse a bucket that another account owns, that these credentials cannot use, or
    that does not keep versions (an object could then be replaced after its upload)."""
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("403", "AccessDenied"):
            raise DeployError(
                f"bucket {bucket!r} refused: it is not owned by account {owner} "
                "(the one these credentials belong to), or they may not use it "
                "(403). Deploy from a bucket of your own account with BUCKET="
            ) from None
        raise DeployError(
            f"bucket {bucket!r} is not reachable with these credentials "
            f"({code}); create it in {region} or name another with BUCKET="
        ) from None
    status = s3.get_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=owner).get("Status")
    if status != "Enabled":
        raise DeployError(
            f"bucket {bucket!r} does not keep versions (versioning "
            f"{status or 'never enabled'}): every object is deployed by the "
            "version its upload returned, so that nothing written at its key "
            f"later is used. {_VERSIONING_FIX.format(bucket)}"
        )


def deploy(args: argparse.Namespace) -> int:
    session = session_for(args.region)
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    owner = caller_account(session)
    check_bucket(s3, args.bucket, owner, str(session.region_name))

    parameters = parse_parameters(args.parameter, args.parameters_file)
    own = sorted(set(parameters) & set(OWN_PARAMETERS))
    if own:
        raise DeployError(
            f"{', '.join(own)}: make deploy sets these itself, to the zip it "
            "builds and uploads; leave them out"
        )
    source = args.template.read_text(encoding="utf-8")
    if VERSION_PARAMETER not in declared_parameters(source):
        raise DeployError(
            f"{args.template}: declares no {VERSION_PARAMETER} parameter; make "
            "deploy pins the zip by the S3 version its upload returned: add "
            f"the parameter and pass it to Code.S3ObjectVersion"
        )
    refuse_uncommitted(args.allow_dirty)
    zip_path = package.build(args.arch)
    code = zip_path.read_bytes()
    stored = upload(
        s3, args.bucket, content_key(f"tgsync-lambda-{args.arch}", code, ".zip"), code, owner
    )
    print(_stored(args.bucket, stored, code))
    print(f"zip sha256 {hashlib.sha256(code).hexdigest()}  CodeSha256 {checksum(code)}")
    if args.signing_profile:
        stored, code = sign(
            session, s3, args.bucket, (stored, code), owner=owner, profile=args.signing_profile
        )
    parameters.update(CodeBucket=args.bucket, CodeKey=stored.key)
    parameters[VERSION_PARAMETER] = pinned(args.bucket, stored)
    parameters.setdefault("Architecture", args.arch)

    nested: list[str] = []
    text = package_template(s3, args.bucket, args.template, owner, nested)
    body = text.encode()
    request: dict[str, Any] = {
        "StackName": args.stack_name,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": "app", "Value": "tgsync"}],
    }
    if len(body) <= TEMPLATE_BODY_LIMIT:  # inline: no S3 object to swap
        request["TemplateBody"] = text
    else:
        request["TemplateURL"] = upload_template(s3, args.bucket, args.template, body, owner)
    built = Built(text, nested, code)
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
            return _verified(session, args.stack_name, built) or _print_outputs(
                cloudformation, args.stack_name
            )
        raise DeployError(f"CloudFormation refused the stack: {message}") from None
    verb = "updating" if exists else "creating"
    print(f"{verb} stack {args.stack_name} in {session.region_name} ...")
    waiter = cloudformation.get_waiter(
        "stack_update_complete" if exists else "stack_create_complete"
    )
    try:
        waiter.wait(StackName=args.stack_name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
    except WaiterError:
        _print_failures(cloudformation, args.stack_name)
        return 1
    return _verified(session, args.stack_name, built) or _print_outputs(
        cloudformation, args.stack_name
    )


def sign(
    session: boto3.session.Session,
    s3: Any,
    bucket: str,
    unsigned: tuple[Stored, bytes],
    *,
    owner: str,
    profile: str,
) -> tuple[Stored, bytes]:
    """Have AWS Signer sign the uploaded zip with ``profile``: the signed object, pinned
    by its version, once it is known to hold exactly the zip built here."""
    stored, code = unsigned
    signer = session.client("signer")
    job = signer.start_signing_job(
        source={"s3": {"bucketName": bucket, "key": stored.key, "version": pinned(bucket, stored)}},
        destination={"s3": {"bucketName": bucket, "prefix": f"{PREFIX}/signed/"}},
        profileName=profile,
        clientRequestToken=uuid.uuid4().hex,
    )["jobId"]
    described = signer.describe_signing_job(jobId=job)
    for _ in range(120):  # Signer's jobs take seconds
        if described["status"] != "InProgress":
            break
        time.sleep(5)
        described = signer.describe_signing_job(jobId=job)
    if described["status"] != "Succeeded":
        raise DeployError(
            f"signing job {job} (profile {profile}): {described['status']} "
            f"{described.get('statusReason', '')}".rstrip()
        )
    key = described["signedObject"]["s3"]["key"]
    got = s3.get_object(Bucket=bucket, Key=key, ExpectedBucketOwner=owner)
    body = got["Body"].read()
    signed = Stored(key, got.get("VersionId"), replaced=False)
    if zip_entries(body) != zip_entries(code):
        raise DeployError(
            f"SIGNED OBJECT MISMATCH: s3://{bucket}/{key} (signing job {job}) "
            "does not hold the zip built here; nothing was deployed. Find who "
            "can write to the bucket, then deploy again."
        )
    print(
        f"signed by {profile} (job {job}): s3://{bucket}/{key} "
        f"(version {pinned(bucket, signed)}), the zip built here"
    )
    return signed, body


def zip_entries(body: bytes) -> dict[str, bytes]:
    """A zip's files and their bytes (a signature aside, what Lambda unpacks)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


def refuse_uncommitted(allowed: bool) -> None:
    """Refuse (unless ``allowed``, then warn) a zip built from uncommitted edits."""
    edited = package.uncommitted()
    if not edited:
        return
    if not allowed:
        raise DeployError(
            f"{', '.join(edited)}: uncommitted edits would go into the zip, "
            "which would then match no commit. Commit them, or pass "
            "--allow-dirty (make deploy ALLOW_DIRTY=1) for a test deployment"
        )
    print(
        f"deploy: WARNING: the zip holds uncommitted edits of {', '.join(edited)} "
        "(--allow-dirty): it matches no commit",
        file=sys.stderr,
    )


@dataclass(frozen=True)
class Built:
    """What this run built: the stack's template text, its nested templates' texts and
    the zip."""

    template: str
    nested: list[str]
    code: bytes


def stack_resources(cloudformation: Any, stack: str, kind: str) -> list[str]:
    """The physical ids of the ``kind`` resources of ``stack`` and of its nested stacks."""
    found: list[str] = []
    for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]:
        physical = resource.get("PhysicalResourceId")
        if not physical:
            continue
        if resource.get("ResourceType") == kind:
            found.append(physical)
        if resource.get("ResourceType") == _NESTED_STACK:
            found.extend(stack_resources(cloudformation, physical, kind))
    return found


def stack_functions(cloudformation: Any, stack: str) -> list[str]:
    """The names of the Lambda functions of ``stack`` and of its nested stacks."""
    return stack_resources(cloudformation, stack, "AWS::Lambda::Function")


def _verified(session: boto3.session.Session, stack: str, built: Built) -> int:
    """0 when the stack runs the templates and the zip built here, signed where its
    function has a code signing configuration; 1, loudly, if not."""
    return (
        _templates_verified(session.client("cloudformation"), stack, built)
        or _code_verified(session, stack, built.code)
        or _signing_verified(session, stack)
    )


def _signing_verified(session: boto3.session.Session, stack: str) -> int:
    """The preflight's code signing check of each function, made from here: 1 when one
    has a code signing configuration and runs unsigned code."""
    lambda_ = session.client("lambda")
    checks = [
        code_signing(lambda_, name)
        for name in stack_functions(session.client("cloudformation"), stack)
    ]
    for check in checks:
        print(check.line(), file=sys.stderr if check.status == FAIL else sys.stdout)
    return 1 if any(check.status == FAIL for check in checks) else 0


def deployed_template(cloudformation: Any, stack: str) -> str:
    """The template a stack was deployed from, as it was given (stage Original)."""
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    # boto3 hands back a JSON template parsed; a YAML one as its text.
    return body if isinstance(body, str) else json.dumps(body, sort_keys=True)


def same_template(deployed: str, built: str) -> bool:
    """Whether a deployed template is the text built here (a JSON one by its content)."""
    if deployed == built:
        return True
    try:
        return bool(json.dumps(json.loads(built), sort_keys=True) == deployed)
    except ValueError:
        return False


def _templates_verified(cloudformation: Any, stack: str, built: Built) -> int:
    wrong = (
        [] if same_template(deployed_template(cloudformation, stack), built.template) else [stack]
    )
    children = stack_resources(cloudformation, stack, _NESTED_STACK)
    wrong += [
        child
        for child in children
        if not any(
            same_template(deployed_template(cloudformation, child), text) for text in built.nested
        )
    ]
    if wrong:
        print(
            f"deploy: TEMPLATE MISMATCH: CloudFormation deployed a template that is not "
            f"the one built here: {', '.join(wrong)} (GetTemplate). An object in the bucket "
            "or the request changed between the build and the deployment: do not trust "
            "this stack; find who can write to the bucket, then deploy again.",
            file=sys.stderr,
        )
        return 1
    print(
        f"verified: {stack} and {len(children)} nested stack(s) run the templates built "
        "here (GetTemplate)"
    )
    return 0


def _code_verified(session: boto3.session.Session, stack: str, code: bytes) -> int:
    """0 when every function of the stack runs ``code``; 1, loudly, when one does not."""
    expected = checksum(code)
    functions = stack_functions(session.client("cloudformation"), stack)
    if not functions:
        print(f"deploy: stack {stack} has no Lambda function: no code to check", file=sys.stderr)
        return 0
    lambda_ = session.client("lambda")
    wrong = []
    for name in functions:
        actual = lambda_.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
        if actual != expected:
            wrong.append(f"{name} (CodeSha256 {actual})")
    if wrong:
        print(
            f"deploy: CODE MISMATCH: the stack's function runs code that is not the zip "
            f"built and uploaded here (CodeSha256 {expected}): {', '.join(wrong)}. The "
            "object in the bucket changed between the upload and the deployment: do not "
            "trust this function; find who can write to the bucket, then deploy again.",
            file=sys.stderr,
        )
        return 1
    print(f"verified: {', '.join(functions)} run the zip built here (CodeSha256 {expected})")
    return 0


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
            print(
                f"  {event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bucket",
        required=True,
        help="S3 bucket, in the stack's region, for the zip and templates",
    )
    parser.add_argument("--stack-name", default="tgsync")
    parser.add_argument("--region", default=None, help="default: the standard AWS settings")
    parser.add_argument("--arch", choices=sorted(package.PLATFORMS), default="arm64")
    parser.add_argument(
        "--template",
        type=Path,
        default=DEFAULT_TEMPLATE,
        help="deploy/tgsync.yaml (default) or deploy/example-opensearch-alb.yaml",
    )
    parser.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a stack parameter; repeat for more",
    )
    parser.add_argument(
        "--parameters-file",
        type=Path,
        default=None,
        help='JSON object of parameters, e.g. {"Hostname": "...", ...}',
    )
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="build the zip from uncommitted edits of tgsync's tracked "
        "files (it then matches no commit); refused otherwise",
    )
    parser.add_argument(
        "--signing-profile",
        default=None,
        metavar="NAME",
        help="an AWS Signer profile (platform AWSLambda-SHA384-ECDSA): the "
        "zip is signed with it and the signed object deployed",
    )
    args = parser.parse_args(argv)
    return exit_code("deploy", lambda: deploy(args))


def exit_code(tool: str, run: Callable[[], int]) -> int:
    """``run()``, with a refusal (exit 2) or an AWS failure (exit 1) said in one line."""
    try:
        return run()
    except DeployError as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"{tool}: AWS said: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
