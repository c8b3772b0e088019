"""What ``strategy = "auto"`` asks of the evidence, and what it is told.

The evidence is read from the runs, the votes and the log (:mod:`weighbridge.evidence`), far
above routing; so the planner is handed an :class:`Advisor` by whoever builds the client (the
gateway, the CLI, the library's default client) and only knows this interface. A client built
without one answers an auto route from its default target and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from weighbridge.routing.routes import Auto
from weighbridge.types import Message


@dataclass(frozen=True)
class Advice:
    """The target the evidence points to (None: too thin to say), and why, with its numbers."""

    model: str | None
    reason: str
    #: Targets with too little evidence on the task to be chosen: exploration's candidates.
    thin: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tagged:
    """A request's task as the classifier found it, and on what."""

    task: str
    reason: str


class Advisor(Protocol):
    def advise(self, route: str, task: str, rule: Auto, models: Sequence[str]) -> Advice:
        """Choose among ``models`` (the targets the route's rules allow, in its order) for
        ``task``. Called on every request: it must answer from memory."""
        ...

    async def classify(self, messages: Sequence[Message], model: str) -> Tagged | None:
        """The task of a request, from the tagged prompts nearest to it in ``model``'s
        embeddings; None when there are none to compare with."""
        ...
