"""How many requests each target is serving right now, and how much of the machine each local
request had.

A request counts from the moment it is sent until its answer is complete (a stream's last
chunk, or its failure), so a target busy with long streams is seen as busy for as long as it is.
That count drives least-outstanding-requests routing.

Local requests share one machine: eight streams decoded together each take 10 s of wall time,
but the machine was busy for 10 s, not 80. Each local request is charged its share: the
integral over its lifetime of dt / n(t), where n(t) is how many local requests were in flight.
The shares of all requests add up to exactly the time the machine was busy, whatever the
overlap, so a local model's cost at the self-hosting rate neither doubles under load nor
vanishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: The key the local machine's requests are counted under (no model can be named this).
MACHINE = "\x00machine"


@dataclass
class Share:
    """Seconds of the counted resource a request had to itself; known when it ends."""

    seconds: float = 0.0


class InFlight:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._clocks: dict[str, tuple[float, float]] = {}  # key -> (share clock, last update)
        self._lock = threading.Lock()

    @contextmanager
    def held(self, key: str) -> Iterator[Share]:
        share = Share()
        with self._lock:
            began = self._tick(key)
            self._counts[key] = self._counts.get(key, 0) + 1
        try:
            yield share
        finally:
            with self._lock:
                share.seconds = self._tick(key) - began
                left = self._counts[key] - 1
                if left:
                    self._counts[key] = left
                else:
                    del self._counts[key], self._clocks[key]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {key: n for key, n in self._counts.items() if key != MACHINE}

    def _tick(self, key: str) -> float:
        """Advance ``key``'s share clock to now: it runs at 1/n of wall time while n are in flight."""
        now = time.monotonic()
        clock, last = self._clocks.get(key, (0.0, now))
        n = self._counts.get(key, 0)
        if n:
            clock += (now - last) / n
        self._clocks[key] = (clock, now)
        return clock
