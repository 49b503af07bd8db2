"""An ELB provider that counts its calls by operation, for tests that assert costs."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from tgsync.provider.elbv2 import Elbv2Provider


class CountingProvider(Elbv2Provider):
    """:class:`~tgsync.provider.elbv2.Elbv2Provider` with ``calls``: operation -> count
    (calls, as tgsync makes them; a retried call counts once)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _call(self, operation: str, arn: str, **params: Any) -> Any:
        with self._count_lock:
            self.calls[operation] += 1
        return super()._call(operation, arn, **params)
