"""What moto's CloudFormation, Lambda and StackSets lack for the deployment tests,
taught as AWS documents it. Imported by :mod:`testlab.moto_server` (patches on import).

Each rule is as strict as AWS where a promise of ``make deploy`` or ``make stackset``
depends on it:

- A ``TemplateURL`` with ``?versionId=`` is read at that version of the object (moto
  reads the newest and drops the query). Source: the CloudFormation API reference,
  CreateStack and UpdateStack, TemplateURL ("The URL of a file that contains the
  template body... located in an Amazon S3 bucket"), with S3's GetObject reference:
  a ``versionId`` query parameter names the version to return; nested stacks'
  ``AWS::CloudFormation::Stack`` TemplateURL likewise.
- A function's ``Code.S3ObjectVersion`` is the version Lambda reads (moto reads the
  newest). Source: the Lambda API reference, FunctionCode: "S3ObjectVersion: For
  versioned objects, the version of the deployment package object to use"; and the
  CloudFormation resource AWS::Lambda::Function Code, S3ObjectVersion.
- ``AWS::Lambda::Function``'s ``CodeSigningConfigArn`` reaches the function (moto's
  CloudFormation drops it). Source: the CloudFormation resource AWS::Lambda::Function,
  CodeSigningConfigArn ("To enable code signing for this function, specify the ARN of
  a code-signing configuration").
- ``Fn::Cidr`` is answered (moto leaves it unresolved). Source: the CloudFormation
  intrinsic function reference, Fn::Cidr: ``[ipBlock, count, cidrBits]``, "an array of
  CIDR address blocks", each with ``cidrBits`` host bits, from the block's start.
- A StackSet's parameter overrides are merged into the stack set's parameters (moto
  replaces them with the overrides alone). Source: the CreateStackInstances API
  reference, ParameterOverrides: "A list of stack set parameters whose values you want
  to override in the selected stack instances"; a parameter left out keeps "the value
  specified in the stack set".
- AWS Signer's signing jobs, and the signing fields Lambda reports for signed code
  (below, with their sources).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import uuid
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlsplit

from moto.awslambda import models as awslambda
from moto.cloudformation import models as cloudformation
from moto.cloudformation import parsing, responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import ValidationError
from moto.s3.models import s3_backends
from moto.signer import responses as signer_responses
from moto.signer import urls as signer_urls


def _object(account_id: str, partition: str, bucket: str, key: str, version: str) -> Any:
    """The object's version, or the error AWS fails the deployment with."""
    found = s3_backends[account_id][partition].get_object(bucket, key, version_id=version)
    if found is None:  # S3 answers NoSuchVersion: the deployment fails
        raise ValidationError(message=f"S3 error: s3://{bucket}/{key} has no version {version!r}")
    return found


def _stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    """The template at ``template_url``, at its ``versionId`` when it names one."""
    parts = urlsplit(template_url)
    version = parse_qs(parts.query).get("versionId", [None])[0]
    if version is None:
        return _original_stack_from_s3_url(template_url, account_id, partition)
    host, path = parts.netloc, parts.path.lstrip("/")
    if host.startswith("s3") or "localhost" in host:  # path style: /bucket/key
        bucket, key = path.split("/", 1)
    else:  # virtual-hosted style: bucket.s3.region.amazonaws.com/key
        bucket, key = host.split(".", 1)[0], path
    return _object(account_id, partition, bucket, key, version).value.decode("utf-8")  # type: ignore[no-any-return]


_original_stack_from_s3_url = cfn_utils.get_stack_from_s3_url
cfn_utils.get_stack_from_s3_url = _stack_from_s3_url
cloudformation.get_stack_from_s3_url = _stack_from_s3_url  # type: ignore[attr-defined]
responses.get_stack_from_s3_url = _stack_from_s3_url  # type: ignore[attr-defined]


_original_set_function_code = awslambda.LambdaFunction._set_function_code


def _set_function_code(self: awslambda.LambdaFunction, updated_spec: dict[str, Any]) -> None:
    """moto's code setting, then the object at ``S3ObjectVersion`` when one is named,
    and the signing job's fields when the code is a signed object."""
    _original_set_function_code(self, updated_spec)
    version = updated_spec.get("S3ObjectVersion")
    if not version or "S3Bucket" not in updated_spec:
        _signing_of(self)
        return
    found = _object(
        self.account_id, self.partition, updated_spec["S3Bucket"], updated_spec["S3Key"], version
    )
    self.code_bytes, self.code_size, self.code_sha_256, self.code_digest = awslambda._s3_content(
        found
    )
    self.code["S3ObjectVersion"] = version
    _signing_of(self)


awslambda.LambdaFunction._set_function_code = _set_function_code  # type: ignore[method-assign]

_original_function_from_cloudformation = (
    awslambda.LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
)


def _function_from_cloudformation(
    cls: type[awslambda.LambdaFunction],
    /,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> awslambda.LambdaFunction:
    function = _original_function_from_cloudformation(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    function.code_signing_config_arn = cloudformation_json["Properties"].get("CodeSigningConfigArn")
    return function  # type: ignore[no-any-return]


awslambda.LambdaFunction.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
    _function_from_cloudformation
)
_original_update_configuration = awslambda.LambdaFunction.update_configuration


def _update_configuration(
    self: awslambda.LambdaFunction, config_updates: dict[str, Any]
) -> dict[str, Any]:
    if "Code" in config_updates:  # a CloudFormation update: the whole properties
        self.code_signing_config_arn = config_updates.get("CodeSigningConfigArn")
    return _original_update_configuration(self, config_updates)


awslambda.LambdaFunction.update_configuration = _update_configuration  # type: ignore[method-assign]

_original_clean_json = parsing.clean_json


def _clean_json(resource_json: Any, resources_map: Any) -> Any:
    if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
        block, count, bits = (
            _original_clean_json(v, resources_map) for v in resource_json["Fn::Cidr"]
        )
        network = ipaddress.ip_network(str(block), strict=False)
        subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
        return [str(next(subnets)) for _ in range(int(count))]
    return _original_clean_json(resource_json, resources_map)


parsing.clean_json = _clean_json

_original_create_stack_instances = cloudformation.StackSet.create_stack_instances


def _create_stack_instances(
    self: cloudformation.StackSet,
    accounts: list[str],
    regions: list[str],
    deployment_targets: dict[str, Any] | None,
    parameters: list[dict[str, Any]],
) -> str:
    """The instances get the stack set's parameters with the overrides on top; each
    instance reports the overrides alone, as DescribeStackInstance does."""
    own: Any = self.parameters  # moto keeps them as {key: value}
    merged = {key: {"ParameterKey": key, "ParameterValue": value} for key, value in own.items()}
    merged.update({p["ParameterKey"]: p for p in parameters})
    before = set(map(id, self.instances.stack_instances))
    operation = _original_create_stack_instances(
        self, accounts, regions, deployment_targets, list(merged.values())
    )
    for instance in self.instances.stack_instances:
        if id(instance) not in before:
            instance.parameters = list(parameters)
    return operation


cloudformation.StackSet.create_stack_instances = _create_stack_instances  # type: ignore[method-assign]


# AWS Signer's signing jobs and Lambda's view of signed code (moto has signing profiles
# only). Source: the AWS Signer API reference, StartSigningJob (source: an S3 object
# and its version; destination: a bucket and a key prefix; profileName) and
# DescribeSigningJob (status, signedObject's bucket and key, profileVersion,
# jobId); the Lambda API reference, FunctionConfiguration: "SigningProfileVersionArn:
# The ARN of the signing profile version", "SigningJobArn: The ARN of the signing
# job", set when the deployed code was signed. The signature itself is a stand-in:
# the signed zip holds the same entries and a comment naming the job, and this
# server remembers which bytes each job signed.
_SIGNED: dict[str, tuple[str, str]] = {}
_JOBS: dict[str, dict[str, Any]] = {}


def _signed_zip(body: bytes, job: str) -> bytes:
    buffer = io.BytesIO(body)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = f"signed by AWS Signer job {job} (test lab)".encode()
    return buffer.getvalue()


def _start_signing_job(self: signer_responses.SignerResponse) -> str:
    request = json.loads(self.body)
    source, destination = request["source"]["s3"], request["destination"]["s3"]
    profile = self.signer_backend.get_signing_profile(profile_name=request["profileName"])
    s3 = s3_backends[self.current_account][self.partition]
    found = s3.get_object(source["bucketName"], source["key"], version_id=source["version"])
    job = str(uuid.uuid4())
    signed = _signed_zip(found.value, job)  # type: ignore[union-attr]
    key = f"{destination.get('prefix', '')}{job}.zip"
    s3.put_object(destination["bucketName"], key, signed)
    job_arn = (
        f"arn:{self.partition}:signer:{self.region}:{self.current_account}:/signing-jobs/{job}"
    )
    _SIGNED[hashlib.sha256(signed).hexdigest()] = (profile.profile_version_arn, job_arn)
    _JOBS[job] = {
        "jobId": job,
        "status": "Succeeded",
        "profileName": profile.name,
        "profileVersion": profile.profile_version,
        "jobOwner": self.current_account,
        "signedObject": {"s3": {"bucketName": destination["bucketName"], "key": key}},
    }
    return json.dumps({"jobId": job, "jobOwner": self.current_account})


def _describe_signing_job(self: signer_responses.SignerResponse) -> str:
    return json.dumps(_JOBS[self.path.rstrip("/").rsplit("/", 1)[-1]])


signer_responses.SignerResponse.start_signing_job = _start_signing_job  # type: ignore[attr-defined]
signer_responses.SignerResponse.describe_signing_job = _describe_signing_job  # type: ignore[attr-defined]
signer_urls.url_paths["{0}/signing-jobs$"] = signer_responses.SignerResponse.dispatch
signer_urls.url_paths["{0}/signing-jobs/(?P<job_id>[^/]+)$"] = (
    signer_responses.SignerResponse.dispatch
)


def _signing_of(function: awslambda.LambdaFunction) -> None:
    """The function's signing fields, as Lambda sets them for the code it deployed."""
    function.signing_profile_version_arn, function.signing_job_arn = _SIGNED.get(
        function.code_digest, (None, None)
    )
