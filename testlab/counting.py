"""An ELB provider that counts its calls by operation, for tests that assert costs."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from tgsync.provider.elbv2 import Elbv2Provider


class CountingProvider(Elbv2Provider):
    """:class:`~tgsync.provider.elbv2.Elbv2Provider` with ``calls``: operation -> count."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    @contextlib.contextmanager
    def _calling(self, operation: str, arn: str) -> Iterator[Any]:
        with self._count_lock:
            self.calls[operation] += 1
        with super()._calling(operation, arn) as client:
            yield client
