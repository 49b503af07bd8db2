"""A role's boto3 Session (rds_role_arn): one per role ARN per process, its credentials
from one AssumeRole until they near their expiry, then refreshed (issue 29, item 1)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from botocore.credentials import Credentials

from tgsync import config
from tgsync.aws import SESSION_NAME, RoleSessions
from tgsync.parsers import parse_role_arn
from tgsync.settings import setting

ROLE = "arn:aws:iam::111122223333:role/tgsync-rds-read"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/db/0123456789abcdef"
WRITER = "orders.cluster-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com"


class Sts:
    """STS answering AssumeRole with credentials that expire ``lasting`` from now."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lasting = [datetime.timedelta(hours=1)]

    def assume_role(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        lasting = self.lasting.pop(0) if len(self.lasting) > 1 else self.lasting[0]
        number = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{number}",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": datetime.datetime.now(datetime.UTC) + lasting,
            },
            "AssumedRoleUser": {"Arn": f"{ROLE}/{SESSION_NAME}"},
        }


class Base:
    """The function's own Session: static credentials, a region, and the STS client."""

    region_name = "eu-west-1"

    def __init__(self, sts: Sts) -> None:
        self.sts = sts
        self.made: list[tuple[str, dict[str, Any]]] = []

    def get_credentials(self) -> Credentials:
        return Credentials("AKIAEXAMPLE", "secret")

    def client(self, service: str, **kwargs: Any) -> Sts:
        self.made.append((service, kwargs))
        return self.sts


@pytest.fixture
def sts() -> Sts:
    return Sts()


@pytest.fixture
def base(sts: Sts) -> Base:
    return Base(sts)


@pytest.fixture
def sessions(base: Base) -> RoleSessions:
    return RoleSessions(base=lambda: base)  # type: ignore[arg-type, return-value]


def key(session: Any) -> str:
    return str(session.get_credentials().get_frozen_credentials().access_key)


def test_one_session_and_one_assume_role_per_role_for_the_process(sessions, sts):
    first = sessions.session(ROLE, "eu-west-1")
    assert sessions.session(ROLE, "us-east-1") is first
    assert [key(first) for _ in range(5)] == ["ASIA1"] * 5
    assert [(c["RoleArn"], c["RoleSessionName"]) for c in sts.calls] == [(ROLE, SESSION_NAME)]
    other = sessions.session(ROLE.replace("tgsync-rds-read", "billing"), "eu-west-1")
    assert other is not first and key(other) == "ASIA2"


def test_credentials_near_their_expiry_are_refreshed_then_kept_again(sessions, sts):
    sts.lasting = [datetime.timedelta(minutes=5), datetime.timedelta(hours=1)]
    session = sessions.session(ROLE, "eu-west-1")
    assert key(session) == "ASIA1"
    assert key(session) == "ASIA2"  # 5 minutes left: botocore must refresh first
    assert key(session) == "ASIA2" and len(sts.calls) == 2


def test_sts_is_asked_in_the_process_s_region_with_the_function_s_credentials(sessions, base):
    key(sessions.session(ROLE, "us-west-2"))
    ((service, kwargs),) = base.made
    assert (service, kwargs["region_name"], kwargs["aws_access_key_id"]) == (
        "sts",
        "eu-west-1",
        "AKIAEXAMPLE",
    )
    assert (kwargs["config"].connect_timeout, kwargs["config"].read_timeout) == (2, 5)


def test_without_a_role_it_is_the_function_s_own_session_and_no_assume_role(sessions, base, sts):
    assert sessions.session(None, "eu-west-1") is base
    assert sts.calls == []


@pytest.mark.parametrize(
    "arn",
    [
        ROLE,
        "arn:aws-cn:iam::111122223333:role/a",
        "arn:aws-us-gov:iam::111122223333:role/p/q/r",
        "arn:aws-iso-b:iam::111122223333:role/name+=,.@_-",
        f" {ROLE} ",
    ],
)
def test_a_role_arn_of_any_partition_is_taken(arn):
    assert parse_role_arn(arn) == arn.strip()


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "tgsync-rds-read",
        "arn:aws:iam::111122223333:user/tgsync",
        "arn:aws:sts::111122223333:assumed-role/tgsync/session",
        "arn:aws:iam::*:role/tgsync",
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::11112222333:role/short-account",
        "arn:aws:iam:eu-west-1:111122223333:role/regional",
        123,
    ],
)
def test_anything_else_is_refused_naming_the_value_and_the_form(arn):
    with pytest.raises(ValueError, match="is not an IAM role ARN; give the whole ARN"):
        parse_role_arn(arn)


def test_the_role_is_a_mapping_key_the_function_default_and_never_a_tag():
    loaded = config.load(
        {
            config.MAPPINGS: json.dumps(
                [
                    {
                        "hostname": WRITER,
                        "target_group_arn": ARN,
                        "resolve": "rds",
                        "rds_role_arn": ROLE,
                    },
                    {
                        "hostname": WRITER.replace("orders", "billing"),
                        "target_group_arn": ARN,
                        "resolve": "rds",
                    },
                    {"hostname": WRITER, "target_group_arn": ARN, "rds_role_arn": ROLE},
                    {
                        "hostname": WRITER,
                        "target_group_arn": ARN,
                        "resolve": "rds",
                        "rds_role_arn": "arn:aws:iam::111122223333:user/x",
                    },
                ]
            ),
            "TGSYNC_RDS_ROLE_ARN": ROLE.replace("tgsync-rds-read", "default"),
        }
    )
    first, second = loaded.mappings
    assert first.rds_role_arn == ROLE
    assert second.rds_role_arn == ROLE.replace("tgsync-rds-read", "default")
    no_rds, bad = (entry.problems for entry in loaded.invalid)
    assert no_rds == (
        "TGSYNC_MAPPINGS[2].rds_role_arn: applies to resolve=rds only (the RDS "
        'reads); add "resolve": "rds" or drop rds_role_arn',
    )
    assert bad[0].startswith(
        "TGSYNC_MAPPINGS[3].rds_role_arn: 'arn:aws:iam::111122223333:user/x' is not an IAM role ARN"
    )
    assert setting("rds_role_arn").tag is None  # see its help: a tag must not pick a role
    with pytest.raises(config.ConfigError, match="TGSYNC_RDS_ROLE_ARN: 'nope' is not an IAM"):
        config.load(
            {
                config.HOSTNAME: WRITER,
                config.TARGET_GROUP_ARN: ARN,
                "TGSYNC_RESOLVE": "rds",
                "TGSYNC_RDS_ROLE_ARN": "nope",
            }
        )
