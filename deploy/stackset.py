"""Deploy tgsync across an organisation: ``make stackset`` (see docs/stacksets.md).

Creates or updates a service-managed CloudFormation StackSet of ``deploy/tgsync.yaml``
with automatic deployment to accounts that join the target OUs, and stack instances in
the OUs and regions given. Run it in the organisation's management account, or in a
delegated administrator with ``--call-as DELEGATED_ADMIN``.

Lambda reads its code from a bucket in the function's own region: the zip is built once
and uploaded, content-addressed, to ``<prefix>-<region>`` for every region, and the
template is given ``CodeBucketPrefix`` (it completes the name with ``${AWS::Region}``).
The uploads carry the same safety as ``make deploy``: nothing already in a bucket is
trusted (every object is put again, with its SHA-256 for S3 to check), every S3 call
names the caller's account as the bucket's expected owner, and the buckets must keep
versions. Each region's stack instances are pinned to the version of the zip uploaded
to that region's bucket (``CodeKey`` and ``CodeObjectVersion`` as per-region parameter
overrides), and the template to the version uploaded (``?versionId=``); the stack set's
own ``CodeObjectVersion`` is ``per-region`` when it spans regions, which the template
refuses, so an account that joins an OU later (automatic deployment gives it the stack
set's own values, not the overrides) fails closed until ``make stackset`` runs again,
rather than running whatever then sits at the key. After the operation the stack set's
template must be the one built here.

Everything that can be checked is checked before anything is created or uploaded: the
OUs exist, and each region's bucket exists, belongs to the caller's account, keeps
versions and is in that region.

Exit codes: 0 done, 1 an operation failed, 2 bad input or missing credentials, region,
OU or bucket.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import package  # the sibling script that builds the zip

import deploy as single  # the sibling script: make deploy's upload and checks

DeployError = single.DeployError

#: Parameters that stackset.py fills in itself, as make deploy does.
OWN_PARAMETERS = ("CodeBucket", "CodeBucketPrefix", "CodeKey", single.VERSION_PARAMETER)
#: CloudFormation's pattern for deployment targets: an OU, or the organisation's root.
_TARGET = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
_STACKSET_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")
#: The longest region name today (ap-southeast-5 and the like) and S3's 63 characters.
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9.-]{0,47}$")
_DONE = ("SUCCEEDED", "FAILED", "STOPPED")
#: The stack set's own CodeObjectVersion when it spans regions: no object has it, and
#: the template's CodeVersionOfTheRegion rule refuses it with the fix.
PER_REGION = "per-region"


@dataclass(frozen=True)
class Plan:
    """What the command was asked for, checked."""

    name: str
    prefix: str
    targets: list[str]
    regions: list[str]
    parameters: dict[str, str]
    overrides: dict[str, dict[str, str]]
    preferences: dict[str, Any]
    call_as: str


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def region_overrides(path: Path | None, regions: list[str]) -> dict[str, dict[str, str]]:
    """``{region: {Key: Value}}`` from a JSON file: what differs per region (subnets)."""
    if path is None:
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeployError(f"--region-parameters-file {path}: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
        raise DeployError(
            f"--region-parameters-file {path}: must be a JSON object "
            '{"eu-west-1": {"SubnetIds": "...", ...}, ...}'
        )
    unknown = sorted(set(loaded) - set(regions))
    if unknown:
        raise DeployError(
            f"--region-parameters-file {path}: {', '.join(unknown)} not in "
            f"--regions ({', '.join(regions)})"
        )
    return {
        region: {str(k): single._text(v) for k, v in values.items()}
        for region, values in loaded.items()
    }


def operation_preferences(args: argparse.Namespace) -> dict[str, Any]:
    """CloudFormation's OperationPreferences from the command's options."""
    preferences: dict[str, Any] = {"RegionConcurrencyType": args.region_concurrency}
    for option, key in (
        ("failure_tolerance_count", "FailureToleranceCount"),
        ("failure_tolerance_percentage", "FailureTolerancePercentage"),
        ("max_concurrent_count", "MaxConcurrentCount"),
        ("max_concurrent_percentage", "MaxConcurrentPercentage"),
    ):
        value = getattr(args, option)
        if value is not None:
            preferences[key] = value
    return preferences


def plan(args: argparse.Namespace) -> Plan:
    """The request, with every mistake that needs no AWS call refused."""
    if not _STACKSET_NAME.match(args.stack_set_name):
        raise DeployError(
            f"stack set name {args.stack_set_name!r}: a letter, then letters, "
            "digits and hyphens (128 at most)"
        )
    if not _PREFIX.match(args.bucket_prefix):
        raise DeployError(
            f"bucket prefix {args.bucket_prefix!r}: up to 48 lowercase "
            "letters, digits, dots and hyphens; the buckets are "
            "<prefix>-<region>"
        )
    targets, regions = _csv(args.ous), _csv(args.regions)
    if not targets:
        raise DeployError("no OU: set OUS=ou-abcd-11111111[,...] (or the root, r-abcd)")
    bad = [t for t in targets if not _TARGET.match(t)]
    if bad:
        raise DeployError(
            f"{', '.join(bad)}: not an OU id (ou-abcd-11111111) nor a root id (r-abcd)"
        )
    if not regions:
        raise DeployError("no region: set REGIONS=eu-west-1[,...]")
    bad = [r for r in regions if not _REGION.match(r)]
    if bad:
        raise DeployError(f"{', '.join(bad)}: not a region name (eu-west-1)")
    parameters = single.parse_parameters(args.parameter, args.parameters_file)
    overrides = region_overrides(args.region_parameters_file, regions)
    own = sorted(
        (set(parameters) | {k for v in overrides.values() for k in v}) & set(OWN_PARAMETERS)
    )
    if own:
        raise DeployError(
            f"{', '.join(own)}: make stackset sets these itself, to the zip "
            "it builds and uploads to each region; leave them out"
        )
    return Plan(
        args.stack_set_name,
        args.bucket_prefix,
        targets,
        regions,
        parameters,
        overrides,
        operation_preferences(args),
        args.call_as,
    )


def check_targets(organizations: Any, targets: list[str]) -> dict[str, list[str]]:
    """Each OU (or root) exists: {target: the ids of the active accounts under it}."""
    roots = {r["Id"] for r in _pages(organizations, "list_roots", "Roots")}
    found: dict[str, list[str]] = {}
    for target in targets:
        if target.startswith("r-"):
            if target not in roots:
                raise DeployError(f"{target}: not this organisation's root ({', '.join(roots)})")
        else:
            try:
                organizations.describe_organizational_unit(OrganizationalUnitId=target)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                raise DeployError(
                    f"OU {target} refused by Organizations ({code}): check the "
                    "id (aws organizations list-organizational-units-for-parent)"
                ) from None
        found[target] = _accounts_under(organizations, target)
    return found


def _accounts_under(organizations: Any, parent: str) -> list[str]:
    """Active accounts in ``parent`` and its child OUs, as StackSets deploys to them."""
    accounts = [
        a["Id"]
        for a in _pages(organizations, "list_accounts_for_parent", "Accounts", ParentId=parent)
        if a.get("Status", "ACTIVE") == "ACTIVE"
    ]
    for child in _pages(
        organizations,
        "list_organizational_units_for_parent",
        "OrganizationalUnits",
        ParentId=parent,
    ):
        accounts.extend(_accounts_under(organizations, child["Id"]))
    return accounts


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


def check_buckets(session: Any, prefix: str, regions: list[str], owner: str) -> dict[str, Any]:
    """{region: S3 client} once every ``<prefix>-<region>`` is the owner's, in its region."""
    clients: dict[str, Any] = {}
    for region in regions:
        bucket = f"{prefix}-{region}"
        s3 = session.client("s3", region_name=region)
        single.check_bucket(s3, bucket, owner, region)
        location = s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=owner)
        where = location.get("LocationConstraint") or "us-east-1"
        if where != region:
            raise DeployError(
                f"bucket {bucket!r} is in {where}, not {region}: Lambda reads "
                f"code only from a bucket in the function's region"
            )
        clients[region] = s3
    return clients


def wait(
    cloudformation: Any,
    plan: Plan,
    operation: str,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait for a StackSet operation; True when it succeeded, else print the failures."""
    while True:
        status = cloudformation.describe_stack_set_operation(
            StackSetName=plan.name,
            OperationId=operation,
            CallAs=plan.call_as,
        )["StackSetOperation"]["Status"]
        if status in _DONE:
            break
        sleep(10)
    print(f"{what}: {status}")
    if status == "SUCCEEDED":
        return True
    for result in _pages(
        cloudformation,
        "list_stack_set_operation_results",
        "Summaries",
        StackSetName=plan.name,
        OperationId=operation,
        CallAs=plan.call_as,
    ):
        if result.get("Status") != "SUCCEEDED":
            print(
                f"  {result.get('Account')} {result.get('Region')}: {result.get('Status')} "
                f"{result.get('StatusReason', '')}",
                file=sys.stderr,
            )
    return False


def _existing(cloudformation: Any, plan: Plan) -> dict[str, Any] | None:
    try:
        return dict(
            cloudformation.describe_stack_set(StackSetName=plan.name, CallAs=plan.call_as)[
                "StackSet"
            ]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "StackSetNotFoundException":
            return None
        raise


def stackset(args: argparse.Namespace) -> int:
    """Check, build, upload to each region, then create or update the StackSet."""
    request = plan(args)
    text = args.template.read_text(encoding="utf-8")
    if re.search(r"^Transform:", text, re.MULTILINE):
        raise DeployError(
            f"{args.template}: has a Transform; service-managed StackSets "
            "refuse macros (use deploy/tgsync.yaml)"
        )
    if single._NESTED.search(text):
        raise DeployError(f"{args.template}: nested templates are not supported here")
    session = single.session_for(args.region)
    owner = single.caller_account(session)
    cloudformation = session.client("cloudformation")
    accounts = check_targets(session.client("organizations"), request.targets)
    s3 = check_buckets(session, request.prefix, request.regions, owner)
    current = _existing(cloudformation, request)
    if current is not None and current.get("PermissionModel") not in (None, "SERVICE_MANAGED"):
        raise DeployError(
            f"stack set {request.name} exists with {current['PermissionModel']} "
            "permissions; this command manages service-managed ones only"
        )
    for target, ids in accounts.items():
        print(f"{target}: {len(ids)} account(s) {', '.join(sorted(ids))}")

    single.refuse_uncommitted(args.allow_dirty)
    code = package.build(args.arch).read_bytes()
    key = single.content_key(f"tgsync-lambda-{args.arch}", code, ".zip")
    pins: dict[str, dict[str, str]] = {}
    for region in request.regions:
        bucket = f"{request.prefix}-{region}"
        stored = single.upload(s3[region], bucket, key, code, owner)
        print(single._stored(bucket, stored, code))
        pins[region] = {"CodeKey": key, single.VERSION_PARAMETER: single.pinned(bucket, stored)}
    print(f"zip sha256 {hashlib.sha256(code).hexdigest()}  CodeSha256 {single.checksum(code)}")

    own_version = (
        pins[request.regions[0]][single.VERSION_PARAMETER]
        if len(request.regions) == 1
        else PER_REGION
    )
    parameters = dict(
        request.parameters,
        CodeBucket="",
        CodeBucketPrefix=request.prefix,
        CodeKey=key,
        **{single.VERSION_PARAMETER: own_version},
    )
    parameters.setdefault("Architecture", args.arch)
    overrides = {
        region: dict(request.overrides.get(region, {}), **pins[region])
        for region in request.regions
    }
    done = apply(
        cloudformation,
        replace(request, overrides=overrides),
        current=current,
        accounts=accounts,
        body=_template(request, text, args.template, s3, owner),
        parameters=parameters,
    )
    return done or _template_verified(cloudformation, request, text)


def _template(plan: Plan, text: str, path: Path, s3: dict[str, Any], owner: str) -> dict[str, str]:
    """TemplateBody, or TemplateURL (at the version uploaded) when the template is too
    big to send inline."""
    if len(text.encode()) <= single.TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": text}
    region = plan.regions[0]  # from the first region's bucket, put again as the zip
    return {
        "TemplateURL": single.upload_template(
            s3[region], f"{plan.prefix}-{region}", path, text.encode(), owner
        )
    }


def _template_verified(cloudformation: Any, plan: Plan, text: str) -> int:
    """0 when the stack set holds the template built here; 1, loudly, when not."""
    deployed = cloudformation.describe_stack_set(StackSetName=plan.name, CallAs=plan.call_as)[
        "StackSet"
    ].get("TemplateBody", "")
    if not single.same_template(deployed, text):
        print(
            f"stackset: TEMPLATE MISMATCH: stack set {plan.name} holds a template that is "
            "not the one built here (DescribeStackSet). An object in the bucket or the "
            "request changed between the build and the operation: do not trust its "
            "instances; find who can write to the bucket, then run make stackset again.",
            file=sys.stderr,
        )
        return 1
    print(f"verified: stack set {plan.name} holds the template built here")
    return 0


def apply(
    cloudformation: Any,
    request: Plan,
    *,
    current: dict[str, Any] | None,
    accounts: dict[str, list[str]],
    body: dict[str, str],
    parameters: dict[str, str],
) -> int:
    """Create or update the StackSet and its instances, one region at a time (each with
    its own overrides: the code's version at least); 0 when all succeeded.

    On an update the instances get their region's new overrides first, then the stack
    set its new template and values: overrides outlive a stack set update, so the code's
    key and version never disagree in an instance.
    """
    common: dict[str, Any] = {
        "StackSetName": request.name,
        "CallAs": request.call_as,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        "Capabilities": ["CAPABILITY_IAM"],
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
        "Tags": [{"Key": "app", "Value": "tgsync"}],
        **body,
    }
    wanted = {a for ids in accounts.values() for a in ids}
    instances: dict[str, Any] = {
        "StackSetName": request.name,
        "CallAs": request.call_as,
        "DeploymentTargets": {"OrganizationalUnitIds": request.targets},
        "OperationPreferences": request.preferences,
    }
    ok, existing = True, set[tuple[str, str]]()
    if current is None:
        cloudformation.create_stack_set(PermissionModel="SERVICE_MANAGED", **common)
        print(f"created stack set {request.name} (service-managed, automatic deployment)")
    else:
        existing = {
            (i["Account"], i["Region"])
            for i in _pages(
                cloudformation,
                "list_stack_instances",
                "Summaries",
                StackSetName=request.name,
                CallAs=request.call_as,
            )
        }
        for region in request.regions:
            if existing & {(a, region) for a in wanted}:
                operation = cloudformation.update_stack_instances(
                    Regions=[region], ParameterOverrides=_overrides(request, region), **instances
                )["OperationId"]
                ok = (
                    wait(
                        cloudformation,
                        request,
                        operation,
                        f"updating the {region} values of its instances",
                    )
                    and ok
                )
        operation = cloudformation.update_stack_set(
            OperationPreferences=request.preferences, **common
        )["OperationId"]
        ok = (
            wait(
                cloudformation,
                request,
                operation,
                f"updating stack set {request.name} and all its instances",
            )
            and ok
        )
    for region in request.regions:
        if {(a, region) for a in wanted} - existing or not wanted:
            operation = cloudformation.create_stack_instances(
                Regions=[region], ParameterOverrides=_overrides(request, region), **instances
            )["OperationId"]
            ok = (
                wait(
                    cloudformation,
                    request,
                    operation,
                    f"creating stack instances in {', '.join(request.targets)} x {region}",
                )
                and ok
            )
    return 0 if ok else 1


def _overrides(request: Plan, region: str) -> list[dict[str, str]]:
    return [
        {"ParameterKey": k, "ParameterValue": v}
        for k, v in sorted(request.overrides.get(region, {}).items())
    ]


def main(argv: list[str] | None = None) -> int:
    """The command line of ``make stackset``."""
    parser = argparse.ArgumentParser(
        prog="make stackset", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--stack-set-name", default="tgsync")
    parser.add_argument(
        "--bucket-prefix",
        required=True,
        help="the code buckets are <prefix>-<region>, one in each region",
    )
    parser.add_argument(
        "--ous", required=True, help="comma-separated OU ids (or the root id) to deploy to"
    )
    parser.add_argument("--regions", required=True, help="comma-separated regions")
    parser.add_argument(
        "--region",
        default=None,
        help="where the StackSet lives; default: the standard AWS settings",
    )
    parser.add_argument("--arch", choices=sorted(package.PLATFORMS), default="arm64")
    parser.add_argument("--template", type=Path, default=single.DEFAULT_TEMPLATE)
    parser.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a stack parameter for every instance; repeat for more",
    )
    parser.add_argument(
        "--parameters-file",
        type=Path,
        default=None,
        help='JSON object of parameters, e.g. {"Discover": "tags", ...}',
    )
    parser.add_argument(
        "--region-parameters-file",
        type=Path,
        default=None,
        help='per-region values, e.g. {"eu-west-1": {"SubnetIds": "..."}}',
    )
    tolerance = parser.add_mutually_exclusive_group()
    tolerance.add_argument(
        "--failure-tolerance-count",
        type=int,
        default=None,
        help="accounts per region that may fail before it stops",
    )
    tolerance.add_argument("--failure-tolerance-percentage", type=int, default=None)
    concurrency = parser.add_mutually_exclusive_group()
    concurrency.add_argument(
        "--max-concurrent-count",
        type=int,
        default=None,
        help="accounts deployed to at once, per region",
    )
    concurrency.add_argument("--max-concurrent-percentage", type=int, default=None)
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="build the zip from uncommitted edits (it then matches no commit); refused otherwise",
    )
    parser.add_argument(
        "--region-concurrency", choices=("SEQUENTIAL", "PARALLEL"), default="SEQUENTIAL"
    )
    parser.add_argument(
        "--call-as",
        choices=("SELF", "DELEGATED_ADMIN"),
        default="SELF",
        help="DELEGATED_ADMIN from a delegated administrator account",
    )
    args = parser.parse_args(argv)
    for name in ("failure_tolerance_percentage", "max_concurrent_percentage"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 100:
            parser.error(f"--{name.replace('_', '-')}: 0 to 100")
    return single.exit_code("stackset", lambda: stackset(args))


if __name__ == "__main__":
    sys.exit(main())
