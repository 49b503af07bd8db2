"""make stackset against moto's server: an organisation with an OU of two member accounts,
two regions with their code buckets.

What moto models, and so what is asserted: a service-managed StackSet and its stack
instances, one per account of the OU and region; for each instance moto creates the
stack's resources in that account and region, so the function exists there, with its
environment and the CodeSha256 of the object it was given. What moto does not model:
automatic deployment, operation preferences (accepted, ignored), and an update's effect
on the instances' resources (UpdateStackSet records the new template and parameters and
a SUCCEEDED operation; moto leaves the instances' functions as they were). The update
test asserts the stack set's new parameters, the operation and the new uploads.

stackset.py runs in this process with a small stand-in zip, as in test_artifacts.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from testlab.peers import REGION

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFIX = "tgsync-artifacts"
REGIONS = [REGION, "ap-northeast-1"]
SUBNET, GROUP = "subnet-0123456789abcdef0", "sg-0123456789abcdef0"


def load_stackset() -> Any:
    """deploy/stackset.py as a module (the folder deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "tgsync_stackset_script", REPO / "deploy" / "stackset.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def small_zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("tgsync/lambda_handler.py", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, f"def handler(event, context):\n    return {text!r}\n")
    return buffer.getvalue()


@pytest.fixture
def org(moto):
    """{"ou": ..., "accounts": [two member account ids]}, on a clean moto."""
    moto.reset()
    organizations = boto3.client("organizations", region_name=REGION)
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")[
        "OrganizationalUnit"
    ]["Id"]
    accounts = []
    for name in ("team-a", "team-b"):
        status = organizations.create_account(Email=f"{name}@example.com", AccountName=name)
        account = status["CreateAccountStatus"]["AccountId"]
        organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        accounts.append(account)
    return {"ou": ou, "accounts": accounts}


def make_buckets(regions, versioned=True):
    for region in regions:
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(
            Bucket=f"{PREFIX}-{region}", CreateBucketConfiguration={"LocationConstraint": region}
        )
        if versioned:
            s3.put_bucket_versioning(
                Bucket=f"{PREFIX}-{region}", VersioningConfiguration={"Status": "Enabled"}
            )


@pytest.fixture
def tool(tmp_path, monkeypatch):
    """``(module, use)``: stackset.py; ``use(text)`` makes its build a zip of ``text``."""
    module = load_stackset()

    def use(text):
        code = small_zip(text)
        path = tmp_path / f"{text}.zip"
        path.write_bytes(code)
        monkeypatch.setattr(module.single.package, "build", lambda arch: path)
        return code

    monkeypatch.setattr(module.single.package, "uncommitted", list)  # a tree may be dirty
    return module, use


def run(module, ou, *extra, regions=REGIONS):
    return module.main(
        [
            "--stack-set-name",
            "tgsync",
            "--bucket-prefix",
            PREFIX,
            "--ous",
            ou,
            "--regions",
            ",".join(regions),
            "-p",
            "Discover=tags",
            "-p",
            "DiscoverPrefix=tgsync-",
            "-p",
            f"SubnetIds={SUBNET}",
            "-p",
            f"SecurityGroupIds={GROUP}",
            "--max-concurrent-percentage",
            "50",
            "--failure-tolerance-count",
            "0",
            *extra,
        ]
    )


def in_account(account, service, region):
    """A client acting in a member account (moto takes the account from the role)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def stack_set_parameters(cloudformation):
    stack_set = cloudformation.describe_stack_set(StackSetName="tgsync")["StackSet"]
    return stack_set, {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}


def keys(region, *, templates=False):
    """The zips in the region's bucket (and the templates, too big to send inline, when
    asked: the stack's template outgrew TemplateBody's 51,200 bytes)."""
    listed = boto3.client("s3", region_name=region).list_objects_v2(Bucket=f"{PREFIX}-{region}")
    return sorted(
        o["Key"] for o in listed.get("Contents", []) if templates or "/templates/" not in o["Key"]
    )


def test_one_command_deploys_to_every_account_and_region_and_updates_them(
    org, tool, capsys, monkeypatch
):
    module, use = tool
    make_buckets(REGIONS)
    code = use("v1")
    assert run(module, org["ou"], "-p", "Owner=team-a") == 0, capsys.readouterr()

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stack_set, parameters = stack_set_parameters(cloudformation)
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert parameters["CodeObjectVersion"] == module.PER_REGION
    assert "Transform" not in stack_set["TemplateBody"]
    key = parameters["CodeKey"]
    assert (parameters["CodeBucket"], parameters["CodeBucketPrefix"]) == ("", PREFIX)
    assert key.startswith("tgsync/tgsync-lambda-arm64-")
    for region in REGIONS:  # the same content-addressed key in each region's bucket
        assert keys(region) == [key]
    instances = cloudformation.list_stack_instances(StackSetName="tgsync")["Summaries"]
    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (a, r) for a in org["accounts"] for r in REGIONS
    )

    expected_sha = module.single.checksum(code)
    for account in org["accounts"]:
        for region in REGIONS:
            functions = in_account(account, "lambda", region).list_functions()["Functions"]
            assert len(functions) == 1, (account, region, functions)
            function = functions[0]
            assert function["FunctionArn"].split(":")[3:5] == [region, account]
            assert function["CodeSha256"] == expected_sha
            assert function["Runtime"] == "python3.13"
            variables = function["Environment"]["Variables"]
            assert variables["TGSYNC_DISCOVER"] == "tags"
            assert variables["TGSYNC_DISCOVER_PREFIX"] == "tgsync-"
            assert variables["TGSYNC_OWNER"] == "team-a"
    # Nothing of it in the administrator's account itself.
    assert not boto3.client("lambda", region_name=REGION).list_functions()["Functions"]

    # The update: new code, a changed parameter; one operation for the whole stack set.
    capsys.readouterr()
    use("v2")
    calls = recorded(module, monkeypatch)
    assert run(module, org["ou"], "-p", "Owner=team-b") == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "updating stack set tgsync and all its instances: SUCCEEDED" in out
    assert "creating stack instances" not in out  # none was missing
    _, updated = stack_set_parameters(cloudformation)
    assert updated["Owner"] == "team-b"
    assert updated["CodeKey"] != key
    for region in REGIONS:
        assert keys(region) == sorted([key, updated["CodeKey"]])
    # Each region's instances got their new code pins first (overrides outlive the
    # stack set's update), then the stack set its new values: one operation each.
    # (moto does not apply UpdateStackInstances to OUs: the requests are asserted.)
    assert [
        (c["Regions"], c["ParameterOverrides"])
        for name, c in calls
        if name == "UpdateStackInstances"
    ] == [
        (
            [region],
            [
                {"ParameterKey": "CodeKey", "ParameterValue": updated["CodeKey"]},
                {
                    "ParameterKey": "CodeObjectVersion",
                    "ParameterValue": newest_version(region, updated["CodeKey"]),
                },
            ],
        )
        for region in REGIONS
    ]
    assert [name for name, _ in calls if "Update" in name] == [
        "UpdateStackInstances",
        "UpdateStackInstances",
        "UpdateStackSet",
    ]
    operations = cloudformation.list_stack_set_operations(StackSetName="tgsync")["Summaries"]
    assert [o["Action"] for o in operations] == ["CREATE"] * 2 + ["UPDATE"] * 3
    assert {o["Status"] for o in operations} == {"SUCCEEDED"}


def nothing_created(regions=REGIONS):
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    assert not cloudformation.list_stack_sets()["Summaries"]
    for region in regions:
        assert keys(region, templates=True) == []


def test_an_unknown_ou_is_refused_before_anything_is_created(org, tool, capsys):
    module, use = tool
    make_buckets(REGIONS)
    use("v1")
    assert run(module, f"{org['ou']},ou-abcd-99999999") == 2
    assert "OU ou-abcd-99999999 refused by Organizations" in capsys.readouterr().err
    nothing_created()


def test_a_malformed_ou_is_refused_with_the_expected_form(org, tool, capsys):
    module, use = tool
    make_buckets(REGIONS)
    use("v1")
    assert run(module, "workloads") == 2
    assert "workloads: not an OU id (ou-abcd-11111111)" in capsys.readouterr().err
    nothing_created()


def test_a_region_without_its_bucket_is_refused_before_anything_is_created(org, tool, capsys):
    module, use = tool
    make_buckets(REGIONS[:1])
    use("v1")
    assert run(module, org["ou"]) == 2
    assert f"bucket '{PREFIX}-ap-northeast-1' is not reachable" in capsys.readouterr().err
    nothing_created(REGIONS[:1])


def test_a_bucket_in_another_region_is_refused(org, tool, capsys):
    module, use = tool
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket=f"{PREFIX}-ap-northeast-1", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_bucket_versioning(
        Bucket=f"{PREFIX}-ap-northeast-1", VersioningConfiguration={"Status": "Enabled"}
    )
    make_buckets(REGIONS[:1])
    use("v1")
    assert run(module, org["ou"]) == 2
    assert "is in eu-west-1, not ap-northeast-1" in capsys.readouterr().err
    nothing_created()


def test_the_code_parameters_are_not_the_callers_to_set(org, tool, capsys):
    module, use = tool
    make_buckets(REGIONS)
    use("v1")
    assert run(module, org["ou"], "-p", "CodeBucket=elsewhere") == 2
    assert "CodeBucket: make stackset sets these itself" in capsys.readouterr().err
    nothing_created()


def recorded(module, monkeypatch):
    """The CloudFormation calls stackset.py makes: ``[(operation, params), ...]``."""
    calls = []
    session_for = module.single.session_for

    def recording(region):
        session = session_for(region)
        session.events.register(
            "provide-client-params.cloudformation.*",
            lambda params, model, **_: calls.append((model.name, dict(params))),
        )
        return session

    monkeypatch.setattr(module.single, "session_for", recording)
    return calls


def newest_version(region, key):
    versions = boto3.client("s3", region_name=region).list_object_versions(
        Bucket=f"{PREFIX}-{region}", Prefix=key
    )["Versions"]
    (latest,) = [v["VersionId"] for v in versions if v["IsLatest"] and v["Key"] == key]
    return latest


def test_per_region_values_and_code_versions_go_to_their_region_only(
    org, tool, tmp_path, monkeypatch, capsys
):
    """Subnets differ per region, and so does each bucket's version of the zip: each
    region's instances get their own overrides, one operation per region."""
    module, use = tool
    make_buckets(REGIONS)
    use("v1")
    calls = recorded(module, monkeypatch)
    other = tmp_path / "regions.json"
    other.write_text(
        '{"ap-northeast-1": {"SubnetIds": "subnet-0fedcba9876543210", '
        '"SecurityGroupIds": "sg-0fedcba9876543210"}}'
    )
    assert (
        run(
            module,
            org["ou"],
            "--region-parameters-file",
            str(other),
            "--call-as",
            "DELEGATED_ADMIN",
        )
        == 0
    ), capsys.readouterr()
    (create,) = [params for name, params in calls if name == "CreateStackSet"]
    own = {p["ParameterKey"]: p["ParameterValue"] for p in create["Parameters"]}
    key = own["CodeKey"]
    assert own["CodeObjectVersion"] == module.PER_REGION  # refused by the template
    created = [params for name, params in calls if name == "CreateStackInstances"]
    pins = {
        r: [
            {"ParameterKey": "CodeKey", "ParameterValue": key},
            {"ParameterKey": "CodeObjectVersion", "ParameterValue": newest_version(r, key)},
        ]
        for r in REGIONS
    }
    assert [(c["Regions"], c["ParameterOverrides"]) for c in created] == [
        ([REGION], pins[REGION]),
        (
            ["ap-northeast-1"],
            pins["ap-northeast-1"]
            + [
                {"ParameterKey": "SecurityGroupIds", "ParameterValue": "sg-0fedcba9876543210"},
                {"ParameterKey": "SubnetIds", "ParameterValue": "subnet-0fedcba9876543210"},
            ],
        ),
    ]
    for params in created:
        assert params["DeploymentTargets"] == {"OrganizationalUnitIds": [org["ou"]]}
        assert params["CallAs"] == "DELEGATED_ADMIN"
        assert params["OperationPreferences"] == {
            "RegionConcurrencyType": "SEQUENTIAL",
            "FailureToleranceCount": 0,
            "MaxConcurrentPercentage": 50,
        }
    assert create["PermissionModel"] == "SERVICE_MANAGED"
    assert create["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert create["Capabilities"] == ["CAPABILITY_IAM"]
    assert "?versionId=" in create["TemplateURL"]
    instances = boto3.client("cloudformation", region_name=REGION).list_stack_instances(
        StackSetName="tgsync"
    )["Summaries"]
    assert sorted((i["Account"], i["Region"]) for i in instances) == sorted(
        (a, r) for a in org["accounts"] for r in REGIONS
    )
    function = in_account(org["accounts"][0], "lambda", "ap-northeast-1").list_functions()[
        "Functions"
    ][0]
    assert function["VpcConfig"]["SubnetIds"] == ["subnet-0fedcba9876543210"]


def test_code_swapped_in_a_region_s_bucket_after_the_upload_is_not_deployed(
    org, tool, monkeypatch, capsys
):
    module, use = tool
    make_buckets(REGIONS)
    code = use("v1")
    upload = module.single.upload

    def upload_then_swap(s3, bucket, key, body, owner):
        stored = upload(s3, bucket, key, body, owner)
        if bucket.endswith("ap-northeast-1"):  # someone with write access wins the race
            s3.put_object(Bucket=bucket, Key=key, Body=small_zip("swapped"))
        return stored

    monkeypatch.setattr(module.single, "upload", upload_then_swap)
    assert run(module, org["ou"]) == 0, capsys.readouterr()
    for account in org["accounts"]:
        for region in REGIONS:
            (function,) = in_account(account, "lambda", region).list_functions()["Functions"]
            assert function["CodeSha256"] == module.single.checksum(code), (account, region)
    assert "verified: stack set tgsync holds the template built here" in capsys.readouterr().out


def test_a_region_whose_bucket_keeps_no_versions_is_refused(org, tool, capsys):
    module, use = tool
    make_buckets(REGIONS[:1])
    make_buckets(REGIONS[1:], versioned=False)
    use("v1")
    assert run(module, org["ou"]) == 2
    assert f"bucket '{PREFIX}-ap-northeast-1' does not keep versions" in capsys.readouterr().err
    nothing_created()


def test_a_region_file_naming_a_region_not_deployed_to_is_refused(org, tool, tmp_path, capsys):
    module, use = tool
    make_buckets(REGIONS)
    use("v1")
    other = tmp_path / "regions.json"
    other.write_text('{"us-east-2": {"SubnetIds": "subnet-0fedcba9876543210"}}')
    assert run(module, org["ou"], "--region-parameters-file", str(other)) == 2
    assert "us-east-2 not in --regions" in capsys.readouterr().err
    nothing_created()
