"""tgsync: keep an AWS ELBv2 ``ip`` target group pointed at a hostname.

The pipeline is a reconcile loop, one module per stage:

- :mod:`tgsync.source`   resolves the hostname (desired state);
- :mod:`tgsync.provider` reads and changes the target group (actual state), over the one
  AWS call path (:mod:`tgsync.aws`);
- :mod:`tgsync.registry` remembers, in the target group's tags, when an IP left DNS and
  (``retire=owned``) which targets tgsync registered;
- :mod:`tgsync.plan`     is the pure diff of the three, with a reason per action;
  :mod:`tgsync.planning` reads what it needs from the records first;
- :mod:`tgsync.apply`    carries a plan out in write-ahead order, and decides dry runs;
- :mod:`tgsync.cycle`    runs one mapping's cycle (resolve, observe, plan, apply, report),
  each stage handed one :class:`~tgsync.round.Round`;
- :mod:`tgsync.controller` shapes an invocation: a cycle over every mapping, follow-ups
  for what moves (:mod:`tgsync.follow`), stopping in time (:mod:`tgsync.deadline`);
- :mod:`tgsync.changes` puts an EventBridge event for every change a cycle made or saw
  (``TGSYNC_EVENT_BUS``), wired once, at the controller's end of a cycle;
- :mod:`tgsync.process_state` keeps what one process remembers between cycles;
- :mod:`tgsync.adoption` adopts and lets go of the groups discovery finds
  (:mod:`tgsync.discovery` decides, purely).

Every setting lives once in :mod:`tgsync.settings`; :mod:`tgsync.config` applies it.
Entry points: :mod:`tgsync.lambda_handler` and :mod:`tgsync.cli`.
"""

__version__ = "0.5.0"
