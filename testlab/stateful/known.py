"""Bugs of tgsync that the lab catches and that are being fixed elsewhere now (issue 29).

While a bug is named in :data:`OPEN`, the lab's default runs (``make check``, ``make
soak``, CI) tolerate it as its entry says, so that they stay green and keep finding
other bugs; ``python -m testlab.soak --strict`` (and ``Lab(tolerate=frozenset())``)
tolerates none, ``--tolerate a,b`` only those. Each has a strict xfail test in
``tests/reliability/test_the_lab_catches_open_bugs.py`` that looks for it without
tolerance: once its fix has merged that test passes, which fails it (XPASS): then delete
the entry here and the test's mark. (That file also holds open bugs the default runs do
not tolerate: a seed that meets one fails, as it should.)
"""

from __future__ import annotations

#: Bug -> what the lab does meanwhile.
OPEN: dict[str, str] = {
    # Issue 29, item 1: the cluster id in an RDS hostname is dropped, so a resolve=rds
    # mapping naming another cluster's endpoint gets this account's same-named cluster.
    "another-cluster": "the world has no mapping naming another cluster's endpoint",
    # Issue 29, item 4: another owner's tgsync:owned record on a retire=all group blocks
    # its registrations, not only its retirements.
    "planted-record": "no other owner's record ever appears on a retire=all group",
    # Issue 29, item 5: near the deadline, a new boto3 client per half-second of time
    # left (budgets 1.0 to 6.5 s: 12), kept for the environment's life.
    "client-per-step": "an environment may create 1 + 12 clients per service and region",
}

#: Every bug the default runs tolerate.
TOLERATED = frozenset(OPEN)
