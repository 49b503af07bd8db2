"""The servers every stage runs against, all on 127.0.0.1: moto's server, a counting
proxy in front of it (every ELB request tgsync or the original makes goes through it)
and a real DNS server; with the fixtures the stages start from and the counting."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from testlab.faultproxy import FaultProxy
from testlab.peers import (
    REGION,
    DnsPeer,
    MotoPeer,
    attach_to_load_balancer,
    create_target_group,
)


class Peers:
    """moto, the counting proxy and DNS, started; the process's ELB endpoint is the
    proxy from then on. Use as a context manager: leaving stops them."""

    def __init__(self, workdir: Path) -> None:
        with contextlib.ExitStack() as started:  # one fails: stop those already up
            self.moto = MotoPeer(workdir).start()
            started.callback(self.moto.stop)
            self.dns = DnsPeer(seed=1).start()
            started.callback(self.dns.stop)
            self.proxy = FaultProxy(self.moto.port).start()
            started.pop_all()
        os.environ.update(self.moto.environ())
        os.environ["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"] = self.proxy.endpoint

    def __enter__(self) -> Peers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the proxy, DNS and moto."""
        self.proxy.stop()
        self.dns.stop()
        self.moto.stop()

    @property
    def nameserver(self) -> tuple[str, int]:
        """The DNS server's (address, port)."""
        return "127.0.0.1", self.dns.port

    def elbv2(self) -> Any:
        """An ELB client straight to moto: fixtures are not counted."""
        return boto3.client("elbv2", region_name=REGION, endpoint_url=self.moto.endpoint)

    def fresh_group(self, name: str = "bench") -> tuple[str, str]:
        """A clean moto with an ALB forwarding to an ip target group: (alb, group)."""
        self.moto.reset()
        elbv2 = self.elbv2()
        arn = create_target_group(elbv2, name)
        return attach_to_load_balancer(elbv2, arn, "alb"), arn

    def many_groups(
        self, size: int, tag_every: int = 0, name_for: Callable[[int], str] | None = None
    ) -> tuple[Any, list[dict[str, str]]]:
        """A clean moto with ``size`` groups in one VPC: (client, mappings). With
        ``name_for``, each group's hostname is in DNS; with ``tag_every`` n, every n-th
        group declares its hostname in a ``tgsync:hostname`` tag."""
        self.moto.reset()
        elbv2 = self.elbv2()
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"][
            "VpcId"
        ]
        mappings = []
        for i in range(size):
            arn = create_target_group(elbv2, f"tg-{i}", vpc_id=vpc)
            hostname = name_for(i) if name_for else f"vpc-d{i}-abc.example"
            if name_for:
                self.dns.set(hostname, a=[f"10.{1 + i // 250}.{i % 250}.10"])
            if tag_every and i % tag_every == 0:
                elbv2.add_tags(
                    ResourceArns=[arn], Tags=[{"Key": "tgsync:hostname", "Value": hostname}]
                )
            mappings.append({"hostname": hostname, "target_group_arn": arn})
        return elbv2, mappings

    def measure(self, run: Callable[[], object]) -> tuple[float, Counter[str], int]:
        """(seconds, ELB requests by operation, DNS queries) of one call of ``run``."""
        mark, queries = self.proxy.mark(), len(self.dns.queries)
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        requests = Counter(r.action for r in self.proxy.since(mark))
        return seconds, requests, len(self.dns.queries) - queries


def scale_hostname(i: int) -> str:
    """The hostname of the ``i``-th group in the scale runs."""
    return f"vpc-d{i}-abc.eu-west-1.es.amazonaws.com"
