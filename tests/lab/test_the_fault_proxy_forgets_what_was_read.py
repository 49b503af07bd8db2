"""The fault proxy's log can let go of what was read (a long soak must not keep every
request) while marks taken before stay valid."""

from __future__ import annotations

import boto3

from testlab.peers import REGION


def test_forgetting_the_log_keeps_every_mark_valid(proxy):
    proxy.clear()
    client = boto3.client("elbv2", region_name=REGION, endpoint_url=proxy.endpoint)
    client.describe_target_groups()
    middle = proxy.mark()
    client.describe_tags(ResourceArns=[])
    proxy.forget(middle)
    assert [r.action for r in proxy.since(0)] == ["DescribeTags"]
    assert [r.action for r in proxy.since(middle)] == ["DescribeTags"]
    client.describe_load_balancers()
    assert [r.action for r in proxy.since(middle + 1)] == ["DescribeLoadBalancers"]
    proxy.forget(proxy.mark())
    assert proxy.log == [] and proxy.since(middle) == []
    assert proxy.mark() == middle + 2
