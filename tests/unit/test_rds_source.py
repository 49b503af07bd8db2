"""resolve=rds without a network: which members an endpoint stands for (a pure function
over DescribeDBClusters/Instances/ClusterEndpoints answers), the RDS reads (one per
cycle and cluster, failures in words), the source over a stand-in DNS, and the
configuration's check of the hostname."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tgsync import config
from tgsync.aws import Aws
from tgsync.deadline import NONE, Deadline
from tgsync.source import Nameserver, Resolution, source_of
from tgsync.source.rds import RdsApi, RdsError, RdsSource, select_members
from tgsync.source.rds_endpoint import parse_rds_endpoint
from tgsync.source.resolver import DnsSource
from tgsync.wiring import Sources

SUFFIX = "abc123xyz.eu-west-1.rds.amazonaws.com"
WRITER = f"orders.cluster-{SUFFIX}"
READER = f"orders.cluster-ro-{SUFFIX}"
CUSTOM = f"analytics.cluster-custom-{SUFFIX}"
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/db/0123456789abcdef"


def endpoint(hostname: str) -> Any:
    parsed = parse_rds_endpoint(hostname)
    assert parsed is not None
    return parsed


def cluster(
    writer: str = "orders-0",
    members: tuple[str, ...] = ("orders-0", "orders-1", "orders-2"),
    status: str = "available",
) -> dict[str, Any]:
    return {
        "DBClusterIdentifier": "orders",
        "Status": status,
        "Endpoint": WRITER,
        "ReaderEndpoint": READER,
        "DBClusterMembers": [
            {"DBInstanceIdentifier": m, "IsClusterWriter": m == writer} for m in members
        ],
    }


def instances(
    *unavailable: str,
    names: tuple[str, ...] = ("orders-0", "orders-1", "orders-2"),
) -> list[dict[str, Any]]:
    return [
        {
            "DBInstanceIdentifier": n,
            "DBInstanceStatus": "rebooting" if n in unavailable else "available",
            "Endpoint": {"Address": f"{n}.{SUFFIX}", "Port": 5432},
        }
        for n in names
    ]


def chosen(hostname: str, *args: Any) -> list[str]:
    return [ident for ident, _ in select_members(endpoint(hostname), *args).members]


# --------------------------------------------------------------------------- selection


def test_the_writer_endpoint_stands_for_the_writer_alone():
    selection = select_members(endpoint(WRITER), cluster(), instances())
    assert selection.members == (("orders-0", f"orders-0.{SUFFIX}"),)
    assert not selection.fallback


def test_the_writer_stays_the_writer_while_it_is_not_available():
    # The cluster endpoint points at the writer whatever its state: so does the group.
    assert chosen(WRITER, cluster(), instances("orders-0")) == ["orders-0"]


def test_the_reader_endpoint_stands_for_the_available_readers_only():
    assert chosen(READER, cluster(), instances("orders-2")) == ["orders-1"]
    assert chosen(READER, cluster(writer="orders-1"), instances()) == ["orders-0", "orders-2"]


def test_a_member_that_describe_db_instances_does_not_list_is_not_available():
    assert chosen(READER, cluster(), instances(names=("orders-0", "orders-1"))) == ["orders-1"]


def test_without_an_available_reader_the_reader_endpoint_stands_for_the_writer():
    selection = select_members(endpoint(READER), cluster(), instances("orders-1", "orders-2"))
    assert [m for m, _ in selection.members] == ["orders-0"]
    assert selection.fallback
    assert "points at the writer" in selection.note


def test_a_cluster_without_a_writer_changes_nothing():
    with pytest.raises(RdsError, match="no writer"):
        select_members(endpoint(WRITER), cluster(writer="none"), instances())
    with pytest.raises(RdsError, match="neither"):
        select_members(
            endpoint(READER), cluster(writer="none"), instances("orders-0", "orders-1", "orders-2")
        )


def test_a_writer_without_an_endpoint_yet_changes_nothing():
    described = instances()
    del described[0]["Endpoint"]
    with pytest.raises(RdsError, match="no endpoint"):
        select_members(endpoint(WRITER), cluster(), described)


def test_a_custom_endpoint_stands_for_its_available_static_members():
    custom = {
        "DBClusterIdentifier": "orders",
        "CustomEndpointType": "ANY",
        "Endpoint": CUSTOM,
        "StaticMembers": ["orders-0", "orders-2"],
        "ExcludedMembers": [],
    }
    assert chosen(CUSTOM, cluster(), instances(), custom) == ["orders-0", "orders-2"]
    assert chosen(CUSTOM, cluster(), instances("orders-2"), custom) == ["orders-0"]


def test_a_custom_endpoint_without_static_members_stands_for_all_but_the_excluded():
    custom = {
        "DBClusterIdentifier": "orders",
        "CustomEndpointType": "ANY",
        "Endpoint": CUSTOM,
        "StaticMembers": [],
        "ExcludedMembers": ["orders-1"],
    }
    assert chosen(CUSTOM, cluster(), instances(), custom) == ["orders-0", "orders-2"]


def test_a_reader_custom_endpoint_never_stands_for_the_writer():
    custom = {
        "DBClusterIdentifier": "orders",
        "CustomEndpointType": "READER",
        "Endpoint": CUSTOM,
        "StaticMembers": ["orders-0", "orders-1"],
    }
    assert chosen(CUSTOM, cluster(), instances(), custom) == ["orders-1"]
    # A failover swapped them: the new reader serves it, the new writer does not.
    assert chosen(CUSTOM, cluster(writer="orders-1"), instances(), custom) == ["orders-0"]
    alone = {**custom, "StaticMembers": ["orders-1"]}
    with pytest.raises(RdsError, match="no serving member: nothing changed"):
        select_members(endpoint(CUSTOM), cluster(writer="orders-1"), instances(), alone)


# --------------------------------------------------------------------------- identity


ANOTHER = "abc999zzz.eu-west-1.rds.amazonaws.com"  # the same names, another account's id


@pytest.mark.parametrize("hostname", [f"orders.cluster-{ANOTHER}", f"orders.cluster-ro-{ANOTHER}"])
def test_a_name_with_another_cluster_id_is_not_this_cluster_and_changes_nothing(hostname):
    with pytest.raises(RdsError) as caught:
        select_members(endpoint(hostname), cluster(), instances())
    text = str(caught.value)
    assert text.startswith(f"{hostname} is not an endpoint of the cluster RDS describes")
    assert f"writer endpoint {WRITER} and reader endpoint {READER}" in text  # what was found
    assert "rds_role_arn" in text and "resolve=dns" in text and "nothing changed" in text
    assert not caught.value.operation  # not a failed call: the mapping fails, nothing moves


def test_a_custom_endpoint_of_another_id_is_not_this_one():
    custom = {"DBClusterIdentifier": "orders", "Endpoint": CUSTOM, "StaticMembers": ["orders-1"]}
    other = f"analytics.cluster-custom-{ANOTHER}"
    with pytest.raises(RdsError, match=f"custom endpoint analytics is {CUSTOM}, of cluster orders"):
        select_members(endpoint(other), cluster(), instances(), custom)
    with pytest.raises(RdsError, match=r"is \(none\)"):  # RDS named no endpoint: not it
        select_members(endpoint(CUSTOM), cluster(), instances(), {**custom, "Endpoint": None})


def test_the_name_is_compared_without_case_and_trailing_dot():
    upper = {**cluster(), "Endpoint": WRITER.upper() + "."}
    assert chosen(WRITER + ".", upper, instances()) == ["orders-0"]


def test_the_read_says_whose_account_it_describes(api):
    with pytest.raises(
        RdsError, match="describes in the account of role arn:aws:iam::111122223333:role/reader"
    ):
        api.selection(
            endpoint(f"orders.cluster-{ANOTHER}"), NONE, "arn:aws:iam::111122223333:role/reader"
        )
    with pytest.raises(RdsError, match="describes in the function's account"):
        api.selection(endpoint(f"orders.cluster-{ANOTHER}"), NONE)


# --------------------------------------------------------------------------- the reads


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} says no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FakeRds:
    """An RDS client answering one cluster, counting calls; ``fail`` raises instead."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}
        self.writer = "orders-0"
        self.statuses: dict[str, str] = {}

    def _answer(self, operation: str) -> None:
        self.calls.append(operation)
        if operation in self.fail:
            raise self.fail[operation]

    def describe_db_clusters(self, **params: Any) -> dict[str, Any]:
        self._answer("DescribeDBClusters")
        assert params == {"DBClusterIdentifier": "orders"}
        return {"DBClusters": [cluster(writer=self.writer)]}

    def describe_db_instances(self, **params: Any) -> dict[str, Any]:
        self._answer("DescribeDBInstances")
        assert params == {"Filters": [{"Name": "db-cluster-id", "Values": ["orders"]}]}
        return {
            "DBInstances": [
                {
                    **i,
                    "DBInstanceStatus": self.statuses.get(
                        i["DBInstanceIdentifier"], i["DBInstanceStatus"]
                    ),
                }
                for i in instances()
            ]
        }

    def describe_db_cluster_endpoints(self, **params: Any) -> dict[str, Any]:
        self._answer("DescribeDBClusterEndpoints")
        assert params == {"DBClusterEndpointIdentifier": "analytics"}
        return {
            "DBClusterEndpoints": [
                {
                    "DBClusterIdentifier": "orders",
                    "Endpoint": CUSTOM,
                    "CustomEndpointType": "ANY",
                    "StaticMembers": ["orders-2"],
                }
            ]
        }


class Cycle:
    """The deadline the controller makes for each cycle: a new one each cycle."""

    def __init__(self) -> None:
        self.token = Deadline(lambda: 30.0, margin=0)

    def next(self) -> None:
        self.token = Deadline(lambda: 30.0, margin=0)


@pytest.fixture
def rds():
    return FakeRds()


@pytest.fixture
def cycle():
    return Cycle()


@pytest.fixture
def api(rds, cycle):
    return RdsApi(
        client_for_region=lambda region: rds,
        sleep=lambda _s: None,
        client_for_role=lambda region, role: rds,
    )


def test_a_writer_and_a_reader_group_of_one_cluster_cost_one_read_per_cycle(api, rds, cycle):
    assert [m for m, _ in api.selection(endpoint(WRITER), cycle.token).members] == ["orders-0"]
    assert [m for m, _ in api.selection(endpoint(READER), cycle.token).members] == [
        "orders-1",
        "orders-2",
    ]
    assert rds.calls == ["DescribeDBClusters", "DescribeDBInstances"]
    rds.writer = "orders-1"  # a failover: the next cycle reads again and sees it
    cycle.next()
    assert [m for m, _ in api.selection(endpoint(WRITER), cycle.token).members] == ["orders-1"]
    assert rds.calls == ["DescribeDBClusters", "DescribeDBInstances"] * 2


def test_a_custom_endpoint_reads_its_members_then_its_cluster(api, rds, cycle):
    assert [m for m, _ in api.selection(endpoint(CUSTOM), cycle.token).members] == ["orders-2"]
    assert rds.calls == ["DescribeDBClusterEndpoints", "DescribeDBClusters", "DescribeDBInstances"]


def test_a_denied_read_names_the_call_and_the_permission_once_per_cycle(api, rds, cycle):
    rds.fail["DescribeDBInstances"] = client_error("AccessDenied", "DescribeDBInstances", 403)
    for hostname in (WRITER, READER):
        with pytest.raises(
            RdsError,
            match=r"DescribeDBInstances denied for cluster orders: "
            r"allow rds:DescribeDBInstances in the function's",
        ):
            api.selection(endpoint(hostname), cycle.token)
    assert rds.calls == ["DescribeDBClusters", "DescribeDBInstances"]  # not retried


def test_a_throttled_read_is_retried_a_bounded_number_of_times(api, rds, cycle):
    rds.fail["DescribeDBClusters"] = client_error("Throttling", "DescribeDBClusters")
    with pytest.raises(
        RdsError,
        match=r"DescribeDBClusters throttled by RDS after 3 attempts "
        r"\(cluster orders\)",
    ):
        api.selection(endpoint(WRITER), cycle.token)
    assert rds.calls == ["DescribeDBClusters"] * 3


def test_an_unreachable_endpoint_and_a_missing_cluster_are_explained(api, rds, cycle, monkeypatch):
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_RDS"):  # AWS's own endpoint
        monkeypatch.delenv(variable, raising=False)
    rds.fail["DescribeDBClusters"] = EndpointConnectionError(endpoint_url="https://rds")
    with pytest.raises(RdsError, match="is the rds endpoint of eu-west-1 reachable"):
        api.selection(endpoint(WRITER), cycle.token)
    cycle.next()
    rds.fail["DescribeDBClusters"] = client_error(
        "DBClusterNotFoundFault", "DescribeDBClusters", 404
    )
    with pytest.raises(RdsError, match="cluster orders not found in eu-west-1"):
        api.selection(endpoint(WRITER), cycle.token)


def test_no_call_is_made_with_less_than_a_second_left(api, rds):
    with pytest.raises(RdsError) as caught:
        api.selection(endpoint(WRITER), Deadline(lambda: 0.5, margin=0))
    assert caught.value.out_of_time
    assert rds.calls == []


# --------------------------------------------------------------------------- the source


class FakeDns:
    def __init__(self, answers: dict[str, str], failing: str = "") -> None:
        self.answers = answers
        self.failing = failing
        self.asked: list[tuple[str, str, int]] = []

    def resolve(
        self, hostname: str, record_type: str, lookups: int, *, deadline: Deadline = NONE
    ) -> Resolution:
        self.asked.append((hostname, record_type, lookups))
        if hostname == self.failing:
            return Resolution(queries=1, error=f"NXDOMAIN: {hostname} does not exist")
        return Resolution(frozenset({self.answers[hostname]}), 1, largest=1)


ADDRESSES = {f"orders-{i}.{SUFFIX}": f"10.0.{i}.10" for i in range(3)}


def test_the_source_resolves_each_member_s_instance_endpoint_and_is_authoritative(api):
    dns = FakeDns(ADDRESSES)
    found = RdsSource(api, dns).resolve(READER, "A", 3)
    assert found.error is None
    assert found.answers == {"10.0.1.10", "10.0.2.10"}
    assert found.authoritative
    assert dns.asked == [(f"orders-1.{SUFFIX}", "A", 1), (f"orders-2.{SUFFIX}", "A", 1)]


def test_a_member_whose_endpoint_does_not_resolve_fails_the_resolution(api):
    found = RdsSource(api, FakeDns(ADDRESSES, failing=f"orders-2.{SUFFIX}")).resolve(READER, "A", 1)
    assert found.error is not None and "instance orders-2" in found.error
    assert not found.authoritative


def test_a_status_rds_does_not_list_is_served_and_logged_naming_instance_and_status(
    api, rds, caplog
):
    rds.statuses["orders-2"] = "quantum-tunnelling"
    found = RdsSource(api, FakeDns(ADDRESSES)).resolve(READER, "A", 1)
    assert found.error is None and found.answers == {"10.0.1.10", "10.0.2.10"}
    logged = [r for r in caplog.records if "quantum" in str(getattr(r, "status", ""))]
    assert [(r.levelname, r.resource, r.status) for r in logged] == [  # type: ignore[attr-defined]
        ("WARNING", "instance orders-2 of cluster orders", "quantum-tunnelling")
    ]


def test_a_failed_read_fails_the_resolution_naming_the_call(api, rds):
    rds.fail["DescribeDBClusters"] = client_error("AccessDeniedException", "DescribeDBClusters")
    found = RdsSource(api, FakeDns(ADDRESSES)).resolve(WRITER, "A", 1)
    assert found.error is not None and found.error.startswith("DescribeDBClusters denied")


def test_an_instance_endpoint_given_to_the_source_is_refused_without_a_call(api, rds):
    found = RdsSource(api, FakeDns(ADDRESSES)).resolve(f"orders-0.{SUFFIX}", "A", 1)
    assert found.error is not None and "endpoint of DB instance orders-0" in found.error
    assert rds.calls == []


# --------------------------------------------------------------------------- configuration


def test_resolve_rds_with_an_instance_or_a_non_rds_name_is_a_configuration_error():
    mappings = [
        {"hostname": f"orders-0.{SUFFIX}", "target_group_arn": ARN, "resolve": "rds"},
        {"hostname": "db.example.com", "target_group_arn": ARN, "resolve": "rds"},
        {"hostname": WRITER, "target_group_arn": ARN, "resolve": "rds"},
        {"hostname": f"orders-0.{SUFFIX}", "target_group_arn": ARN},
    ]
    loaded = config.load({config.MAPPINGS: json.dumps(mappings)})
    assert [m.hostname for m in loaded.mappings] == [WRITER, f"orders-0.{SUFFIX}"]
    first, second = (bad.problems[0] for bad in loaded.invalid)
    assert first.startswith("TGSYNC_MAPPINGS[0].resolve: ")
    assert f"orders-0.{SUFFIX} is the endpoint of DB instance orders-0" in first
    assert "cluster-ro-" in first and "stale_after=0" in first  # the fix
    assert "db.example.com is not an RDS endpoint name" in second


def test_the_single_mapping_with_resolve_rds_is_checked_too():
    with pytest.raises(
        config.ConfigError,
        match=r"TGSYNC_RESOLVE \(mapping TGSYNC_HOSTNAME\)"
        r": resolve=rds takes",
    ):
        config.load(
            {
                config.HOSTNAME: "vpc-logs-abc123.eu-west-1.es.amazonaws.com",
                config.TARGET_GROUP_ARN: ARN,
                "TGSYNC_RESOLVE": "rds",
            }
        )
    loaded = config.load(
        {config.HOSTNAME: READER, config.TARGET_GROUP_ARN: ARN, "TGSYNC_RESOLVE": "rds"}
    )
    assert loaded.mappings[0].resolve == "rds"


# --------------------------------------------------------------------------- wiring


def test_a_process_has_one_rds_api_and_plain_source_callables_keep_serving_dns():
    servers = (Nameserver("127.0.0.1", 5353),)
    sources = Sources(Aws())
    assert isinstance(source_of(sources, servers, "dns"), DnsSource)
    one, other = source_of(sources, servers, "rds"), source_of(sources, (), "rds")
    assert isinstance(one, RdsSource) and isinstance(other, RdsSource)
    assert one.api is other.api is sources.rds  # one read per cluster, whatever the servers
    # The form the lab and the tests pass: one argument.
    plain = source_of(lambda s: DnsSource(s, timeout=0.2), servers, "dns")
    assert isinstance(plain, DnsSource)
