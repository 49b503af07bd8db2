"""Discovery: what one read of many target groups costs, a tenth of them tagged."""

from __future__ import annotations

from benchmarks.harness import Section
from benchmarks.peers import Peers
from testlab.peers import REGION
from tgsync import config
from tgsync.wiring import build_provider


def stage(peers: Peers, size: int) -> Section:
    """The discovery row for ``size`` groups."""
    peers.many_groups(size, tag_every=10)
    provider = build_provider(
        config.load({config.DISCOVER: "tags", "AWS_REGION": REGION, config.DISCOVER_PREFIX: "*"})
    )
    seconds, requests, _ = peers.measure(lambda: provider.discover(REGION))
    return Section(
        "Discovery",
        rows=[
            (
                f"discovery read of {size} target groups ({size // 10} tagged)",
                f"{seconds:.1f} s, {sum(requests.values())} requests "
                f"({requests['DescribeTargetGroups']} DescribeTargetGroups, "
                f"{requests['DescribeTags']} DescribeTags)",
                "",
                f"once per TGSYNC_DISCOVER_EVERY ({config.DEFAULT_DISCOVER_EVERY:.0f} s)",
            )
        ],
    )
