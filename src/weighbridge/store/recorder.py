"""Where every finished attempt goes: the chained log first, then whoever listens (the
gateway's metrics), so that what is counted is exactly what was logged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from weighbridge.errors import WeighbridgeError
from weighbridge.store import InferenceRecord, Store

#: Told of every record once it is stored, with the error the caller saw (if any).
Observer = Callable[[InferenceRecord, WeighbridgeError | None], None]


class Recorder:
    """The store and its observers, fixed when the client is built."""

    def __init__(self, store: Store, observers: Iterable[Observer] = ()) -> None:
        self.store = store
        self._observers = tuple(observers)

    def record(self, record: InferenceRecord, error: WeighbridgeError | None = None) -> None:
        """Log ``record`` now (a failure, or an answer outside an event loop)."""
        self.store.record(record)
        self._observe(record, error)

    async def arecord(self, record: InferenceRecord) -> None:
        """Log an answer from the event loop: its commit is shared with the requests that
        finish at the same time, and the caller resumes only once it is committed."""
        try:
            await self.store.arecord(record)
        except asyncio.CancelledError:
            self._observe(record, None)  # its batch commits it all the same: count it too
            raise
        self._observe(record, None)

    def _observe(self, record: InferenceRecord, error: WeighbridgeError | None) -> None:
        for observe in self._observers:
            observe(record, error)
