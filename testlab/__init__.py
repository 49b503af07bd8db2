"""Local stand-ins for AWS and DNS, on 127.0.0.1 only, shared by tests, demo and benchmarks.

- :mod:`testlab.moto_server` runs moto's server with target health, draining,
  outside-VPC validation and idempotent deregistration that behave like ELB;
- :mod:`testlab.peers` starts and drives that server and a real DNS server.

Addresses in DNS answers and target groups are data here, never destinations.
"""
