"""What make deploy trusts in the bucket (nothing) and what make package puts in the zip
(git-tracked source, hash-checked dependencies), against moto's server.

The deploy tests run deploy.py in this process with a small stand-in zip, so that they
need no network; the package tests build the real zip (pip, as test_deploy does).
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from conftest import HOSTNAME
from testlab.peers import REGION

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account for the default test credentials
OTHER_ACCOUNT = "111111111111"
BUCKET = "tgsync-artifacts"


def load_deploy():
    """deploy/deploy.py as a module (the folder deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "tgsync_deploy_script", REPO / "deploy" / "deploy.py"
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


class OwnerCheckingS3:
    """A proxy in front of moto's S3 that answers ``x-amz-expected-bucket-owner`` as S3
    does (403 when the bucket's account differs; moto ignores the header), and records
    every request."""

    def __init__(self, upstream_port: int, owners: dict[str, str]) -> None:
        self.owners = owners
        self.requests: list[tuple[str, str, str | None]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                expected = self.headers.get("x-amz-expected-bucket-owner")
                bucket = urlsplit(self.path).path.lstrip("/").split("/", 1)[0]
                proxy.requests.append((self.command, self.path, expected))
                if (
                    expected is not None
                    and bucket
                    and expected != proxy.owners.get(bucket, ACCOUNT)
                ):
                    payload = (
                        b""
                        if self.command == "HEAD"
                        else (
                            b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
                            b"</Error>"
                        )
                    )
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header(
                    "Content-Length", response.getheader("Content-Length") or str(len(data))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def s3_proxy(moto, monkeypatch):
    proxy = OwnerCheckingS3(moto.port, {})
    proxy.thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


@pytest.fixture
def network(moto, elbv2):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tgsync", Description="tgsync", VpcId=vpc)[
        "GroupId"
    ]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return {"vpc": vpc, "subnet": subnet, "group": group}


@pytest.fixture
def deployer(tmp_path, monkeypatch):
    """``(module, code)``: deploy.py, its build replaced by a small zip of ``code``."""
    module = load_deploy()
    code = small_zip("ours")
    path = tmp_path / "tgsync-lambda-arm64.zip"
    path.write_bytes(code)
    monkeypatch.setattr(module.package, "build", lambda arch: path)
    monkeypatch.setattr(module.package, "uncommitted", list)  # a working tree may be dirty
    return module, code


def run_deploy(module, network, target_group, *extra, bucket=BUCKET, stack="tgsync"):
    return module.main(
        [
            "--bucket",
            bucket,
            "--stack-name",
            stack,
            "-p",
            f"Hostname={HOSTNAME}",
            "-p",
            f"TargetGroupArn={target_group}",
            "-p",
            f"SubnetIds={network['subnet']}",
            "-p",
            f"SecurityGroupIds={network['group']}",
            *map(str, extra),
        ]
    )


def deployed_code_sha256(stack="tgsync"):
    resources = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(
        StackName=stack
    )["StackResources"]
    (name,) = [
        r["PhysicalResourceId"]
        for r in resources
        if r.get("ResourceType") == "AWS::Lambda::Function"
    ]
    return boto3.client("lambda", region_name=REGION).get_function(FunctionName=name)[
        "Configuration"
    ]["CodeSha256"]


def stack_parameters(stack="tgsync"):
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=stack)[
        "Stacks"
    ][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def test_a_planted_object_at_the_predictable_key_is_replaced_not_deployed(
    network, target_group, deployer, s3_proxy, capsys
):
    module, code = deployer
    key = module.content_key("tgsync-lambda-arm64", code, ".zip")
    planted = small_zip("planted")
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=planted)
    mark = len(s3_proxy.requests)

    assert run_deploy(module, network, target_group) == 0
    out = capsys.readouterr().out
    assert f"uploaded s3://{BUCKET}/{key}" in out
    assert "replaced a different object found at that key" in out
    assert deployed_code_sha256() == module.checksum(code) != module.checksum(planted)
    assert f"CodeSha256 {module.checksum(code)}" in out
    assert "verified: " in out
    # Every S3 call named the caller's account as the bucket's owner.
    assert {expected for _, _, expected in s3_proxy.requests[mark:]} == {ACCOUNT}
    assert stack_parameters()["CodeObjectVersion"] == newest_version(key)


def newest_version(key, bucket=BUCKET):
    versions = boto3.client("s3", region_name=REGION).list_object_versions(
        Bucket=bucket, Prefix=key
    )["Versions"]
    (latest,) = [v["VersionId"] for v in versions if v["IsLatest"] and v["Key"] == key]
    return latest


def test_a_bucket_without_versioning_is_refused_naming_the_fix(
    network, target_group, deployer, s3_proxy, capsys
):
    module, _ = deployer
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket="plain", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    mark = len(s3_proxy.requests)

    assert run_deploy(module, network, target_group, bucket="plain") == 2
    err = capsys.readouterr().err
    assert "bucket 'plain' does not keep versions" in err
    assert (
        "aws s3api put-bucket-versioning --bucket plain --versioning-configuration Status=Enabled"
    ) in err
    assert "PUT" not in [r[0] for r in s3_proxy.requests[mark:]]  # nothing uploaded


def test_a_bucket_another_account_owns_is_refused(
    network, target_group, deployer, s3_proxy, capsys
):
    module, _ = deployer
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/planter", RoleSessionName="planter"
    )["Credentials"]
    boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    ).create_bucket(Bucket="their-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3_proxy.owners["their-bucket"] = OTHER_ACCOUNT
    mark = len(s3_proxy.requests)

    assert run_deploy(module, network, target_group, bucket="their-bucket") == 2
    err = capsys.readouterr().err
    assert "bucket 'their-bucket' refused: it is not owned by account 123456789012" in err
    assert [r[0] for r in s3_proxy.requests[mark:]] == ["HEAD"]  # nothing uploaded
    stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"] == "tgsync"]


def swapping(module, monkeypatch, suffix, body):
    """After each upload of a key ending in ``suffix``, someone with write access to the
    bucket puts ``body`` (a function of the text uploaded) at the same key: the race
    the version pins close. Returns the keys swapped."""
    upload, swapped = module.upload, []

    def upload_then_swap(s3, bucket, key, data, owner):
        stored = upload(s3, bucket, key, data, owner)
        if key.endswith(suffix):
            boto3.client("s3", region_name=REGION).put_object(
                Bucket=bucket, Key=key, Body=body(data)
            )
            swapped.append(key)
        return stored

    monkeypatch.setattr(module, "upload", upload_then_swap)
    return swapped


def test_code_swapped_after_the_upload_is_not_deployed(
    network, target_group, deployer, capsys, monkeypatch
):
    module, code = deployer
    swapped = swapping(module, monkeypatch, ".zip", lambda _: small_zip("swapped"))

    assert run_deploy(module, network, target_group) == 0, capsys.readouterr().err
    assert deployed_code_sha256() == module.checksum(code)
    (key,) = swapped
    assert stack_parameters()["CodeObjectVersion"] != newest_version(key)  # the swap's


#: An administrator role trusting another account: what a swapped template plants.
PLANTED = """\
  PlantedAdmin:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { AWS: arn:aws:iam::111111111111:root }
            Action: sts:AssumeRole
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AdministratorAccess]
"""


def planted(text: bytes) -> bytes:
    return text.decode().replace("\nResources:\n", "\nResources:\n" + PLANTED, 1).encode()


def planted_roles():
    roles = boto3.client("iam", region_name=REGION).list_roles()["Roles"]
    return [r["RoleName"] for r in roles if "PlantedAdmin" in r["RoleName"]]


def test_a_template_swapped_after_its_upload_is_not_deployed(
    network, target_group, deployer, capsys, monkeypatch
):
    """The reproduction: tgsync.yaml is over TemplateBody's limit, so it is deployed by
    URL; an administrator role planted in it right after the upload is not deployed."""
    module, _ = deployer
    template = REPO / "deploy" / "tgsync.yaml"
    assert len(template.read_bytes()) > module.TEMPLATE_BODY_LIMIT
    swapped = swapping(module, monkeypatch, ".yaml", planted)

    assert run_deploy(module, network, target_group) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert len(swapped) == 1
    assert not planted_roles()
    deployed = boto3.client("cloudformation", region_name=REGION).get_template(StackName="tgsync")[
        "TemplateBody"
    ]
    assert deployed == template.read_text()
    assert "verified: tgsync and 0 nested stack(s) run the templates built here" in out


def test_a_nested_template_swapped_after_its_upload_is_not_deployed(
    network, target_group, deployer, capsys, monkeypatch, tmp_path
):
    module, _ = deployer
    (tmp_path / "child.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n'
    )
    (tmp_path / "parent.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nParameters:\n'
        + "".join(
            f"  {name}:\n    Type: String\n    Default: ''\n"
            for name in ("CodeBucket", "CodeKey", "CodeObjectVersion", "Architecture")
        )
        + "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n"
        "      TemplateURL: child.yaml\n"
    )
    swapped = swapping(module, monkeypatch, ".yaml", planted)

    assert (
        module.main(
            [
                "--bucket",
                BUCKET,
                "--stack-name",
                "parent",
                "--template",
                str(tmp_path / "parent.yaml"),
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert len(swapped) == 1 and "/templates/child-" in swapped[0]
    assert not planted_roles()
    assert (
        "verified: parent and 1 nested stack(s) run the templates built here"
        in capsys.readouterr().out
    )


def tampering(module, monkeypatch, operation, change):
    """Sessions whose CloudFormation ``operation`` requests are changed by ``change``
    (what a request altered on its way would deploy)."""
    session_for = module.session_for

    def tampered(region):
        session = session_for(region)
        session.events.register(
            f"provide-client-params.cloudformation.{operation}", lambda params, **_: change(params)
        )
        return session

    monkeypatch.setattr(module, "session_for", tampered)


def test_a_stack_that_runs_another_template_fails_the_deploy_loudly(
    network, target_group, deployer, capsys, monkeypatch
):
    module, _ = deployer
    swapped = swapping(module, monkeypatch, ".yaml", planted)

    def newest(params):  # the TemplateURL's pin moved to the planted version
        url, _, _ = params["TemplateURL"].partition("?")
        params["TemplateURL"] = f"{url}?versionId={newest_version(swapped[0])}"

    tampering(module, monkeypatch, "CreateStack", newest)
    assert run_deploy(module, network, target_group) == 1
    err = capsys.readouterr().err
    assert "TEMPLATE MISMATCH" in err and "tgsync (GetTemplate)" in err


def test_a_function_that_runs_other_code_fails_the_deploy_loudly(
    network, target_group, deployer, capsys, monkeypatch
):
    module, code = deployer
    swapped = swapping(module, monkeypatch, ".zip", lambda _: small_zip("swapped"))

    def newest(params):  # the code's pin moved to the swapped version
        for parameter in params["Parameters"]:
            if parameter["ParameterKey"] == "CodeObjectVersion":
                parameter["ParameterValue"] = newest_version(swapped[0])

    tampering(module, monkeypatch, "CreateStack", newest)
    assert run_deploy(module, network, target_group) == 1
    err = capsys.readouterr().err
    assert "CODE MISMATCH" in err
    assert module.checksum(code) in err
    assert f"CodeSha256 {module.checksum(small_zip('swapped'))}" in err


def test_a_zip_of_uncommitted_edits_is_refused_unless_allowed(
    network, target_group, deployer, capsys, monkeypatch
):
    module, _ = deployer
    monkeypatch.setattr(module.package, "uncommitted", lambda: ["src/tgsync/cycle.py"])
    assert run_deploy(module, network, target_group) == 2
    err = capsys.readouterr().err
    assert "src/tgsync/cycle.py: uncommitted edits would go into the zip" in err
    assert "--allow-dirty" in err
    assert run_deploy(module, network, target_group, "--allow-dirty") == 0
    assert (
        "WARNING: the zip holds uncommitted edits of src/tgsync/cycle.py" in capsys.readouterr().err
    )


def test_the_object_version_is_passed_when_the_template_declares_it(
    network, target_group, deployer, tmp_path
):
    module, _ = deployer
    s3 = boto3.client("s3", region_name=REGION)
    template = REPO / "deploy" / "tgsync.yaml"  # declares CodeObjectVersion
    assert module.declared_parameters(template.read_text()) >= {"CodeKey", "CodeObjectVersion"}

    assert run_deploy(module, network, target_group, "--template", template) == 0
    parameters = stack_parameters()
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=parameters["CodeKey"])["Versions"]
    (latest,) = [v["VersionId"] for v in versions if v["IsLatest"]]
    assert parameters["CodeObjectVersion"] == latest


def test_the_code_parameters_are_not_the_callers_to_set(network, target_group, deployer, capsys):
    module, _ = deployer
    assert run_deploy(module, network, target_group, "-p", "CodeKey=tgsync/other.zip") == 2
    assert "CodeKey: make deploy sets these itself" in capsys.readouterr().err


# ------------------------------------------------------------------ the real zip


def checkout_copy(root: Path) -> Path:
    """This checkout's src/ and deploy/ as they are now, committed in a git repository of
    their own at ``root``: make package there sees what it sees here, and a file planted
    there never appears in this checkout, which other tests (and workers) read."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".terraform*")
    for folder in ("src", "deploy"):
        shutil.copytree(REPO / folder, root / folder, ignore=skip)
    git = [
        shutil.which("git") or "git",
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "-c",
        "commit.gpgsign=false",
    ]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "source"]):
        subprocess.run([*git, *args], cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_an_untracked_file_in_src_tgsync_does_not_reach_the_zip(tmp_path):
    root = checkout_copy(tmp_path / "checkout")
    (root / "src" / "tgsync" / "zz_untracked_probe.py").write_text("LEAKED = True\n")
    # The copy's package.py and tgsync, as make package runs them there.
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run(
        [
            sys.executable,
            str(root / "deploy" / "package.py"),
            "--output",
            str(tmp_path / "tgsync.zip"),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "tgsync.zip") as archive:
        names = archive.namelist()
    assert "tgsync/lambda_handler.py" in names
    assert "tgsync/zz_untracked_probe.py" not in names
    assert "tgsync/requirements.lock" not in names
    # Both forms of the digest: hex, and base64 as Lambda's CodeSha256.
    assert " sha256 " in done.stdout
    assert " CodeSha256 " in done.stdout


@pytest.mark.slow
def test_a_dependency_whose_hash_is_not_in_the_lock_is_refused(tmp_path):
    from tgsync import bundle

    lock = tmp_path / "requirements.lock"
    pin = bundle.PINNED[-1]
    lock.write_text(f"{pin} --hash=sha256:{'0' * 64}\n")
    with pytest.raises(subprocess.CalledProcessError):
        bundle.build("arm64", tmp_path / "out.zip", [pin], lock=lock)
    assert not (tmp_path / "out.zip").exists()


# ------------------------------------------------------------------ code signing

CSC = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"


def test_a_signed_zip_is_deployed_by_its_version_and_reported_signed(
    network, target_group, deployer, capsys
):
    module, code = deployer
    profile = boto3.client("signer", region_name=REGION).put_signing_profile(
        profileName="tgsync_release", platformId="AWSLambda-SHA384-ECDSA"
    )
    assert (
        run_deploy(
            module,
            network,
            target_group,
            "--signing-profile",
            "tgsync_release",
            "-p",
            f"CodeSigningConfigArn={CSC}",
        )
        == 0
    ), capsys.readouterr().err
    out = capsys.readouterr().out
    parameters = stack_parameters()
    assert parameters["CodeKey"].startswith("tgsync/signed/")
    assert parameters["CodeObjectVersion"] == newest_version(parameters["CodeKey"])
    assert "signed by tgsync_release (job " in out
    name = boto3.client("lambda", region_name=REGION).list_functions()["Functions"][0][
        "FunctionName"
    ]
    lambda_ = boto3.client("lambda", region_name=REGION)
    assert (
        lambda_.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == CSC
    )
    config = lambda_.get_function_configuration(FunctionName=name)
    assert config["SigningProfileVersionArn"] == profile["profileVersionArn"]
    assert config["CodeSha256"] != module.checksum(code)  # the signed zip: same files
    assert module.zip_entries(small_zip("ours")) == module.zip_entries(
        boto3.client("s3", region_name=REGION)
        .get_object(Bucket=BUCKET, Key=parameters["CodeKey"])["Body"]
        .read()
    )
    assert f"OK         code signing of {name}: signed by {profile['profileVersionArn']}" in out


def test_unsigned_code_under_a_code_signing_config_fails_the_deploy(
    network, target_group, deployer, capsys
):
    module, _ = deployer
    assert run_deploy(module, network, target_group, "-p", f"CodeSigningConfigArn={CSC}") == 1
    err = capsys.readouterr().err
    assert f"{CSC} is set, but the code is not signed" in err
    assert "make deploy SIGNING_PROFILE=" in err


def test_without_a_code_signing_config_the_deploy_says_signing_is_off(
    network, target_group, deployer, capsys
):
    module, _ = deployer
    assert run_deploy(module, network, target_group) == 0
    assert "off: no code signing configuration" in capsys.readouterr().out


def test_make_package_warns_of_uncommitted_edits_and_of_another_pip(deployer, monkeypatch):
    module, _ = deployer
    package = module.package
    monkeypatch.setattr(package, "uncommitted", lambda root=None: ["src/tgsync/cycle.py"])
    monkeypatch.setattr(package.importlib.metadata, "version", lambda name: "1.0")
    warnings = package.tool_warnings()
    assert warnings[0].startswith("WARNING: uncommitted edits of src/tgsync/cycle.py")
    assert (
        f"pip 1.0 installs the dependencies; the release uses pip {package.locked_pip()}"
        in warnings[1]
    )
    assert package.locked_pip()  # the lock pins pip
