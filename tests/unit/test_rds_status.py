"""resolve=rds over RDS's own tables of DB instance and DB cluster statuses (issue 29,
item 2): every row, serving or not, and statuses no table lists."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgsync.source.rds_endpoint import parse_rds_endpoint
from tgsync.source.rds_members import RdsError, select_members
from tgsync.source.rds_status import CLUSTER_STATUSES, INSTANCE_STATUSES

SUFFIX = "abc123xyz.eu-west-1.rds.amazonaws.com"
WRITER, READER = f"orders.cluster-{SUFFIX}", f"orders.cluster-ro-{SUFFIX}"
CUSTOM = f"analytics.cluster-custom-{SUFFIX}"
NAMES = ("orders-0", "orders-1", "orders-2")


def cluster(status: str = "available") -> dict[str, Any]:
    return {
        "DBClusterIdentifier": "orders",
        "Status": status,
        "Endpoint": WRITER,
        "ReaderEndpoint": READER,
        "DBClusterMembers": [
            {"DBInstanceIdentifier": n, "IsClusterWriter": n == "orders-0"} for n in NAMES
        ],
    }


def instances(**statuses: str) -> list[dict[str, Any]]:
    return [
        {
            "DBInstanceIdentifier": n,
            "DBInstanceStatus": statuses.get(n, "available"),
            "Endpoint": {"Address": f"{n}.{SUFFIX}"},
        }
        for n in NAMES
    ]


def chosen(
    hostname: str,
    described: list[dict[str, Any]],
    status: str = "available",
    custom: dict[str, Any] | None = None,
) -> list[str]:
    endpoint = parse_rds_endpoint(hostname)
    assert endpoint is not None
    return [m for m, _ in select_members(endpoint, cluster(status), described, custom).members]


#: The rows of "Viewing Amazon RDS DB instance status" (RDS User Guide) and "Viewing DB
#: cluster status" (Aurora User Guide), as published: none may drop out of the tables.
DOCUMENTED_INSTANCE = {
    "available",
    "backing-up",
    "backtracking",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "converting-to-vpc",
    "creating",
    "deleting",
    "failed",
    "inaccessible-encryption-credentials",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "insufficient-capacity",
    "maintenance",
    "modifying",
    "moving-to-vpc",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "restore-error",
    "starting",
    "stopped",
    "stopping",
    "storage-full",
    "storage-optimization",
    "upgrading",
}
DOCUMENTED_CLUSTER = {
    "available",
    "backing-up",
    "backtracking",
    "cloning-failed",
    "creating",
    "deleting",
    "failing-over",
    "inaccessible-encryption-credentials",
    "maintenance",
    "migrating",
    "migration-failed",
    "modifying",
    "promoting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "stopped",
    "stopping",
    "update-iam-db-auth",
    "upgrading",
}


def test_the_tables_hold_every_documented_row_each_with_its_reason():
    assert set(INSTANCE_STATUSES) == DOCUMENTED_INSTANCE
    assert set(CLUSTER_STATUSES) == DOCUMENTED_CLUSTER
    assert all(row.why for row in (*INSTANCE_STATUSES.values(), *CLUSTER_STATUSES.values()))


def test_routine_steps_serve_and_outages_do_not():
    # The issue's own examples: a reader in these still serves and must stay.
    for status in (
        "available",
        "backing-up",
        "configuring-enhanced-monitoring",
        "configuring-log-exports",
        "modifying",
        "renaming",
        "resetting-master-credentials",
        "storage-optimization",
    ):
        assert INSTANCE_STATUSES[status].serves, status
    for status in (
        "stopped",
        "stopping",
        "deleting",
        "failed",
        "rebooting",
        "starting",
        "inaccessible-encryption-credentials",
        "incompatible-parameters",
    ):
        assert not INSTANCE_STATUSES[status].serves, status
    for status in (
        "stopped",
        "stopping",
        "deleting",
        "starting",
        "creating",
        "inaccessible-encryption-credentials",
    ):
        assert not CLUSTER_STATUSES[status].serves, status
    assert CLUSTER_STATUSES["failing-over"].serves  # following a failover is the point


@pytest.mark.parametrize("status", sorted(INSTANCE_STATUSES))
def test_a_reader_stays_exactly_while_its_status_serves(status):
    serves = INSTANCE_STATUSES[status].serves
    assert ("orders-2" in chosen(READER, instances(**{"orders-2": status}))) == serves
    custom = {
        "DBClusterIdentifier": "orders",
        "Endpoint": CUSTOM,
        "StaticMembers": ["orders-1", "orders-2"],
    }
    assert (
        "orders-2" in chosen(CUSTOM, instances(**{"orders-2": status}), custom=custom)
    ) == serves
    # The writer stays the writer whatever its own status: the cluster endpoint says so.
    assert chosen(WRITER, instances(**{"orders-0": status})) == ["orders-0"]


@pytest.mark.parametrize("status", sorted(s for s, row in INSTANCE_STATUSES.items() if row.serves))
def test_every_reader_in_a_serving_status_keeps_the_writer_out(status):
    # With both readers in a routine step, the reader group does not fall back to the
    # writer (which would cut every reader connection).
    assert chosen(READER, instances(**{"orders-1": status, "orders-2": status})) == [
        "orders-1",
        "orders-2",
    ]


@pytest.mark.parametrize("status", sorted(CLUSTER_STATUSES))
def test_a_cluster_that_does_not_serve_changes_nothing_naming_its_status(status):
    if CLUSTER_STATUSES[status].serves:
        assert chosen(WRITER, instances(), status) == ["orders-0"]
        return
    with pytest.raises(RdsError, match=f"cluster orders is {status} .*nothing changed"):
        chosen(WRITER, instances(), status)
    with pytest.raises(RdsError, match=f"cluster orders is {status}"):
        chosen(READER, instances(), status)


KNOWN = sorted(INSTANCE_STATUSES)


@given(
    status=st.one_of(st.sampled_from(KNOWN), st.text(min_size=1, max_size=30)),
    other=st.sampled_from(KNOWN),
)
def test_an_unknown_status_serves_and_is_reported_a_known_one_follows_the_table(status, other):
    endpoint = parse_rds_endpoint(READER)
    assert endpoint is not None
    selection = select_members(
        endpoint, cluster(), instances(**{"orders-1": status, "orders-2": other})
    )
    members = [m for m, _ in selection.members]
    row = INSTANCE_STATUSES.get(status)
    assert ("orders-1" in members) == (row is None or row.serves)
    assert (("instance orders-1 of cluster orders", status) in selection.unknown) == (row is None)
    if not members or members == ["orders-0"]:  # no reader serves: the writer stands in
        assert selection.fallback and members == ["orders-0"]


def test_an_unknown_cluster_status_serves_and_is_reported():
    endpoint = parse_rds_endpoint(WRITER)
    assert endpoint is not None
    selection = select_members(endpoint, cluster("re-platforming"), instances())
    assert [m for m, _ in selection.members] == ["orders-0"]
    assert selection.unknown == (("cluster orders", "re-platforming"),)
