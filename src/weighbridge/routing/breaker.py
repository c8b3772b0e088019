"""A circuit breaker per target: after ``threshold`` failures in a row a target is skipped for
``cooldown_s``; then one request is let through as a probe, and its outcome closes the circuit
or opens it again. A provider that is down costs one failed request per cooldown, not one per
request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half-open"]


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class Breakers:
    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def state(self, target: str) -> State:
        with self._lock:
            return self._state(self._circuits.get(target, _Circuit()))

    def _state(self, circuit: _Circuit) -> State:
        if circuit.opened_at is None:
            return "closed"
        if time.monotonic() - circuit.opened_at < self.cooldown_s:
            return "open"
        return "half-open"

    def allow(self, target: str) -> bool:
        """Whether a request may go to ``target`` now (claiming the probe when half-open)."""
        with self._lock:
            circuit = self._circuits.setdefault(target, _Circuit())
            state = self._state(circuit)
            if state == "closed":
                return True
            if state == "half-open" and not circuit.probing:
                circuit.probing = True
                return True
            return False

    def success(self, target: str) -> None:
        with self._lock:
            self._circuits[target] = _Circuit()

    def failure(self, target: str) -> None:
        with self._lock:
            circuit = self._circuits.setdefault(target, _Circuit())
            circuit.failures += 1
            if circuit.probing or circuit.failures >= self.threshold:
                circuit.opened_at = time.monotonic()
                circuit.probing = False

    def states(self) -> dict[str, State]:
        with self._lock:
            return {name: self._state(c) for name, c in self._circuits.items()}
