"""How many requests each target is serving right now, for least-outstanding-requests routing.

A request counts from the moment it is sent until its answer is complete (a stream's last
chunk, or its failure), so a target busy with long streams is seen as busy for as long as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def held(self, model: str) -> Iterator[None]:
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._counts[model] - 1
                if left:
                    self._counts[model] = left
                else:
                    del self._counts[model]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
