"""Every feature on at once: a lab that steps a world and checks tgsync's invariants.

One execution environment of the function (a :class:`~tgsync.controller.Controller`
with its provider and memory) keeps explicit mappings *and* discovered groups, follows
what moves every second (the minimum) with a sleep that moves a simulated clock, skips
settled groups, answers OpenSearch and RDS events, and has the preflight check run
beside it, all against moto's server behind the fault proxy and a real DNS server.

- :mod:`testlab.stateful.world`: the world (target groups, names, an Aurora cluster,
  faults, the clock: :mod:`~testlab.stateful.layout`, :mod:`~testlab.stateful.clock`)
  and its steps: DNS records added, removed, replaced, rotated,
  failed, poisoned; health; hand edits of the groups; ELB and RDS faults; failovers;
  clock steps; a group deleted while discovery lists it;
- :mod:`testlab.stateful.lab`: the function over it (invocations, checks, cold starts)
  and the *quiet phases*, when the world stops changing and only the schedule runs;
- the invariants, each a class whose docstring is the promise, checked after every
  invocation and check (a breach raises :class:`InvariantBroken`):

  safety (:mod:`testlab.stateful.invariants`):
   1. :class:`~testlab.stateful.invariants.NothingInDnsRetired`
   2. :class:`~testlab.stateful.invariants.NothingServingRetiredEarly`
   3. :class:`~testlab.stateful.invariants.CheckWritesNothing`
   4. :class:`~testlab.stateful.invariants.NoFollowAfterAwsFailure`
   5. :class:`~testlab.stateful.invariants.PacedWithinBudget`
   6. :class:`~testlab.stateful.invariants.ServedBehindLoadBalancer`
   7. :class:`~testlab.stateful.invariants.OnlyAllowedTouched`
   8. :class:`~testlab.stateful.invariants.RecordsHoldWhileAnswered`
   9. :class:`~testlab.stateful.invariants.WriterAloneAfterFlip`

  the right targets, and in the end only them (:mod:`testlab.stateful.liveness`):
   10. :class:`~testlab.stateful.liveness.RegisteredOnlyWhatWasAnswered` (identity)
   11. :class:`~testlab.stateful.liveness.ConvergesOnceQuiet` (liveness, at the end of
       each quiet phase)

  bounded resources (:mod:`testlab.stateful.resources`):
   12. :class:`~testlab.stateful.resources.FewClients`
   13. :class:`~testlab.stateful.resources.FewTagWrites`
   14. :class:`~testlab.stateful.resources.MemoryHoldsSteady` (sampled after each quiet
       phase, judged once there are enough samples: long runs only)

The same steps drive both the hypothesis state machine of
``tests/reliability/test_stateful.py`` (a short run in ``make check``) and the seeded
run of ``make soak`` (:meth:`Lab.random_step`, a quiet phase every so many steps and at
the end).
"""

from testlab.stateful.invariants import InvariantBroken
from testlab.stateful.lab import Lab, new_lab

__all__ = ["InvariantBroken", "Lab", "new_lab"]
