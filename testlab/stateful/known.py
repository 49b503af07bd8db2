"""Bugs of tgsync that the lab catches and that are being fixed elsewhere now (none now).

While a bug is named in :data:`OPEN`, the lab's default runs (``make check``, ``make
soak``, CI) tolerate it as its entry says, so that they stay green and keep finding
other bugs; ``python -m testlab.soak --strict`` (and ``Lab(tolerate=frozenset())``)
tolerates none, ``--tolerate a,b`` only those. Each has a strict xfail test in
``tests/reliability/test_bugs_the_lab_caught.py`` that looks for it without
tolerance: once its fix has merged that test passes, which fails it (XPASS): then delete
the entry here and the test's mark. (That file also holds open bugs the default runs do
not tolerate: a seed that meets one fails, as it should.)
"""

from __future__ import annotations

#: Bug -> what the lab does meanwhile.
OPEN: dict[str, str] = {
    # Empty: issue 29's items 1 ("another-cluster": the world had no mapping naming another
    # cluster's endpoint), 4 ("planted-record": no other owner's record on a retire=all
    # group) and 5 ("client-per-step": a client per half-second near the deadline) are
    # fixed, and the default runs look for each again.
}

#: Every bug the default runs tolerate.
TOLERATED = frozenset(OPEN)
