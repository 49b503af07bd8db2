"""tgsync: keep an AWS ELBv2 ``ip`` target group pointed at a hostname.

The pipeline is a reconcile loop, one module per stage:

- :mod:`tgsync.source`   resolves the hostname (desired state);
- :mod:`tgsync.provider` reads and changes the target group (actual state);
- :mod:`tgsync.registry` remembers, in the target group's tags, when an IP left DNS;
- :mod:`tgsync.plan`     is the pure diff of the three, with a reason per action;
- :mod:`tgsync.controller` runs one cycle per mapping and reports it.

Entry points: :mod:`tgsync.lambda_handler` and :mod:`tgsync.cli`.
"""

__version__ = "0.3.0"
