"""How many calls may be in flight at once, per place that serves them.

A local GGUF file has one llama.cpp worker thread (see ``providers/llamacpp.py``), so more
than one request at a time only queues behind it and makes every latency look worse: one per
file. An HTTP provider takes many: eight each, which stays under the rate limits of a new
account at the big providers. ``--concurrency N`` sets every limit to N.
"""

from __future__ import annotations

import asyncio

from weighbridge.targets import Target

LOCAL_FILE_LIMIT = 1
HTTP_PROVIDER_LIMIT = 8


class Limits:
    def __init__(self, override: int | None = None) -> None:
        if override is not None and override < 1:
            raise ValueError("concurrency must be at least 1")
        self._override = override
        self._gates: dict[str, asyncio.Semaphore] = {}

    def gate(self, target: Target) -> asyncio.Semaphore:
        """The semaphore every call to ``target`` passes through."""
        if target.is_file:
            key, limit = f"file:{target.upstream}", LOCAL_FILE_LIMIT
        else:
            key, limit = f"provider:{target.provider_name}", HTTP_PROVIDER_LIMIT
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self._override or limit)
        return gate
