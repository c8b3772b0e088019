"""How many calls may be in flight at once, per place that serves them.

Each provider type declares how many calls one weight file or endpoint takes
(``Capabilities.concurrency``): one for an in-process GGUF file, which has one llama.cpp worker
thread, so more would only queue behind it and make every latency look worse. A provider that
declares none takes eight, which stays under the rate limits of a new account at the big
providers. ``--concurrency N`` sets every limit to N.
"""

from __future__ import annotations

import asyncio

from weighbridge.targets import Target

DEFAULT_LIMIT = 8


class Limits:
    def __init__(self, override: int | None = None) -> None:
        if override is not None and override < 1:
            raise ValueError("concurrency must be at least 1")
        self._override = override
        self._gates: dict[str, asyncio.Semaphore] = {}

    def gate(self, target: Target) -> asyncio.Semaphore:
        """The semaphore every call to ``target`` passes through."""
        place = target.weight_file
        key = f"file:{place}" if place is not None else f"provider:{target.provider_name}"
        limit = target.capabilities.concurrency or DEFAULT_LIMIT
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self._override or limit)
        return gate
