"""Which DB instance and DB cluster statuses still serve (``resolve=rds``). Pure.

The statuses are RDS's own, row by row, from its tables:

- DB instances: RDS User Guide, "Viewing Amazon RDS DB instance status" (the table of
  ``Overview.DBInstance.Status``), and Aurora User Guide, "Viewing DB instance status
  in an Aurora cluster" (the same rows, but ``insufficient-capacity``);
- DB clusters: Aurora User Guide, "Viewing DB cluster status" (the table of
  ``Aurora.Status``), the ``Status`` that DescribeDBClusters answers.

An instance **serves** when its database engine keeps answering connections at the
same address through the status: a configuration change, a backup, a rename, storage
work. It does **not** serve while the engine is down or the instance is not (yet, or
any more) a database: created, deleted, failed, stopped, restarting (RDS shows a
restart as ``rebooting``, ``starting``, ``maintenance`` or ``upgrading``), or moving
networks. A reader that serves stays in the reader group; one that does not is retired
from it (a writer stays the writer whatever its state: the cluster endpoint points at
it). A status that is not in the table is taken as serving (a new status RDS adds is
far likelier a routine one than an outage, and retiring a serving reader cuts its
connections) and logged, naming the instance and the status.

A cluster whose status is not serving (stopped, being deleted, its key unreachable...)
changes nothing: its roles say nothing a group should follow, and the resolution is an
error naming the status. ``failing-over`` serves: the roles it shows are what a failover
moves, and following them is the point.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The default spelled out: why an unknown status is kept.
UNKNOWN_REASON = (
    "not in RDS's table of statuses: kept as serving (a new status is far "
    "likelier routine than an outage) and logged"
)


@dataclass(frozen=True, slots=True)
class Status:
    """One row: whether the status serves, and why."""

    serves: bool
    why: str


#: Every DB instance status of RDS's table, serving or not, with the reason.
INSTANCE_STATUSES: dict[str, Status] = {
    "available": Status(True, "healthy and available"),
    "backing-up": Status(True, "a backup runs beside the engine"),
    "backtracking": Status(
        True,
        "Aurora MySQL rewinds the whole cluster at once: every "
        "member pauses together, so no other member would serve "
        "better, and ELB's checks see the pause",
    ),
    "configuring-enhanced-monitoring": Status(True, "a monitoring setting changes"),
    "configuring-iam-database-auth": Status(True, "an authentication setting changes"),
    "configuring-log-exports": Status(True, "a log export setting changes"),
    "converting-to-vpc": Status(False, "moving into a VPC: its address changes"),
    "creating": Status(False, "not created yet: inaccessible, as RDS says"),
    "deleting": Status(False, "being deleted"),
    "failed": Status(False, "failed, and RDS cannot recover it"),
    "inaccessible-encryption-credentials": Status(
        False, "its KMS key cannot be used: the database cannot read its data"
    ),
    "incompatible-network": Status(False, "RDS cannot recover it in its VPC"),
    "incompatible-option-group": Status(
        True, "an option group change failed; the engine runs on, and ELB's checks judge it"
    ),
    "incompatible-parameters": Status(False, "RDS cannot start it with its parameters"),
    "incompatible-restore": Status(False, "a point-in-time restore failed: not a database"),
    "insufficient-capacity": Status(False, "RDS could not create it"),
    "maintenance": Status(False, "RDS applies instance maintenance, which may restart it"),
    "modifying": Status(
        True, "a change the customer asked for; a restart it needs shows as rebooting"
    ),
    "moving-to-vpc": Status(False, "moving to another VPC: its address changes"),
    "rebooting": Status(False, "restarting: the engine is down"),
    "renaming": Status(True, "its name changes, not its engine"),
    "resetting-master-credentials": Status(True, "a password changes"),
    "restore-error": Status(False, "a restore failed: not a database"),
    "starting": Status(False, "starting: the engine is not up yet"),
    "stopped": Status(False, "stopped"),
    "stopping": Status(False, "stopping"),
    "storage-full": Status(
        True,
        "out of storage: writes fail but reads answer (a writer "
        "stays the writer whatever its state)",
    ),
    "storage-optimization": Status(True, "fully operational, as RDS says"),
    "upgrading": Status(False, "the engine version is upgraded: it restarts"),
}

#: Every DB cluster status of Aurora's table, serving or not, with the reason.
CLUSTER_STATUSES: dict[str, Status] = {
    "available": Status(True, "healthy and available"),
    "backing-up": Status(True, "a backup runs beside the engines"),
    "backtracking": Status(True, "a brief rewind; the members stay"),
    "cloning-failed": Status(False, "a clone failed: not a database"),
    "creating": Status(False, "not created yet"),
    "deleting": Status(False, "being deleted"),
    "failing-over": Status(True, "the roles move: following them is the point"),
    "inaccessible-encryption-credentials": Status(False, "its KMS key cannot be used"),
    "maintenance": Status(
        True,
        "cluster maintenance; each member's own status says "
        "whether it serves, and a failover may follow",
    ),
    "migrating": Status(False, "a snapshot is being restored into it: not a database yet"),
    "migration-failed": Status(False, "a migration failed: not a database"),
    "modifying": Status(True, "a change the customer asked for"),
    "promoting": Status(True, "a read replica cluster becomes standalone; it serves"),
    "renaming": Status(True, "its name changes (its endpoints' names with it)"),
    "resetting-master-credentials": Status(True, "a password changes"),
    "starting": Status(False, "starting: its instances are not up yet"),
    "stopped": Status(False, "stopped"),
    "stopping": Status(False, "stopping"),
    "update-iam-db-auth": Status(True, "an authentication setting changes"),
    "upgrading": Status(
        True,
        "an engine upgrade; each member's own status says whether "
        "it serves, and a failover may follow",
    ),
}


def instance_status(status: object) -> Status | None:
    """The row of a DB instance status (``None``: not in RDS's table)."""
    return INSTANCE_STATUSES.get(status) if isinstance(status, str) else None


def cluster_status(status: object) -> Status | None:
    """The row of a DB cluster status (``None``: not in Aurora's table)."""
    return CLUSTER_STATUSES.get(status) if isinstance(status, str) else None
