"""The RDS endpoint-name parser: which names name a cluster's members, and which not."""

from __future__ import annotations

import pytest

from tgsync.source.rds_endpoint import Role, parse_rds_endpoint

SUFFIX = "c9akciq32xyz.eu-west-1.rds.amazonaws.com"


@pytest.mark.parametrize(
    ("hostname", "role", "identifier"),
    [
        (f"orders.cluster-{SUFFIX}", Role.WRITER, "orders"),
        (f"orders.cluster-ro-{SUFFIX}", Role.READER, "orders"),
        (f"analytics.cluster-custom-{SUFFIX}", Role.CUSTOM, "analytics"),
        (f"orders-1.{SUFFIX}", Role.INSTANCE, "orders-1"),
        (f"Orders.Cluster-RO-{SUFFIX.upper()}.", Role.READER, "orders"),  # case, trailing dot
    ],
)
def test_each_kind_of_endpoint_is_told_apart(hostname, role, identifier):
    endpoint = parse_rds_endpoint(hostname)
    assert endpoint is not None
    assert (endpoint.role, endpoint.identifier, endpoint.region) == (role, identifier, "eu-west-1")
    assert endpoint.names_cluster is (role is not Role.INSTANCE)


def test_china_regions_and_a_cluster_named_like_a_role():
    endpoint = parse_rds_endpoint("cluster-ro.cluster-abc123.cn-north-1.rds.amazonaws.com.cn")
    assert endpoint is not None
    assert (endpoint.role, endpoint.identifier, endpoint.region) == (
        Role.WRITER,
        "cluster-ro",
        "cn-north-1",
    )


@pytest.mark.parametrize(
    "hostname",
    [
        "vpc-logs-abc123.eu-west-1.es.amazonaws.com",  # OpenSearch
        "orders.cluster-abc.eu-west-1.rds.example.com",
        "1orders.cluster-abc.eu-west-1.rds.amazonaws.com",  # identifiers start with a letter
        "orders.cluster-abc.rds.amazonaws.com",  # no region
        "",
    ],
)
def test_other_names_are_not_rds_endpoints(hostname):
    assert parse_rds_endpoint(hostname) is None
