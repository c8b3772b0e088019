"""What every benchmark task is: items drawn from a dataset, asked of a model, scored.

Asking and scoring are apart on purpose. What a model said (an item's *record*: the
log-likelihood of each choice, the text it generated) is stored the moment it comes back, and
scoring it is a function of the item and the record alone, so a stored run is re-scored, and a
resumed one finished, without asking the model anything again. An item's ``ask`` is everything
that decides the model's answer; its hash names the answer in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from weighbridge.capabilities import Capabilities
    from weighbridge.client import Client

#: How a model is scored; every report row names it, so a score is never read as another kind.
LOGLIKELIHOOD = "loglikelihood"
GENERATION = "generation"

#: lm-evaluation-harness's default seed for drawing few-shot examples (``--fewshot_seed``).
DEFAULT_SEED = 1234


@dataclass(frozen=True)
class Setup:
    """How a task's items are drawn: the first ``limit`` of its split (lm-eval's ``--limit``),
    ``shots`` few-shot examples each, drawn with ``seed`` where the task samples them."""

    limit: int | None = None
    #: ``None``: each task's own default (lm-eval's ``num_fewshot`` in its task file).
    shots: int | None = None
    seed: int = DEFAULT_SEED
    data_dir: Path | None = None


@dataclass(frozen=True)
class Item:
    """One question, ready to ask."""

    id: str
    #: What the averages are grouped by (an MMLU subject); "" where a task has no groups.
    group: str
    #: :data:`LOGLIKELIHOOD` or :data:`GENERATION`, chosen by :meth:`Task.method`.
    method: str
    #: Everything that decides the model's answer (prompt, choices, stop strings, sampling),
    #: as JSON-able data: equal asks of the same weights share one stored answer.
    ask: dict[str, Any]
    #: What the answer is scored against (the right choice, the reference answer, the tests).
    reference: dict[str, Any]


class Task(Protocol):
    """A benchmark. Implementations are plain objects registered in
    :mod:`weighbridge.eval.registry`."""

    #: Whether scoring runs code the model wrote (``--confirm-unsafe-code`` first).
    unsafe_code: ClassVar[bool]

    @property
    def name(self) -> str:
        """The task's name, as lm-evaluation-harness names it."""
        ...

    def shots(self, setup: Setup) -> int:
        """The few-shot examples each item carries: ``setup.shots``, else the task's default
        (0 for a zero-shot task whatever was asked)."""
        ...

    def method(self, capabilities: Capabilities) -> str:
        """How this task scores a model with these capabilities (:data:`LOGLIKELIHOOD` where it
        shows token log-probabilities, else :data:`GENERATION`); raises
        :class:`~weighbridge.errors.InvalidRequestError` when neither can be done."""
        ...

    def metrics(self, method: str) -> tuple[str, ...]:
        """The metrics an item gets, in report order (``acc``, ``exact_match,strict-match``)."""
        ...

    def items(self, setup: Setup, method: str) -> list[Item]:
        """The items to ask, in dataset order; raises
        :class:`~weighbridge.eval.datasets.DatasetNotFound` when the data is not on disk."""
        ...

    async def ask(self, client: Client, model: str, item: Item) -> dict[str, Any]:
        """Ask the model; returns the record (JSON-able) that :meth:`score` reads. A service's
        snapshot that answered goes under ``upstream_model``, where the provider names it."""
        ...

    def score(self, item: Item, record: dict[str, Any]) -> dict[str, float]:
        """Each metric's value for this item (1.0/0.0 for a hit, a fraction for pass@k)."""
        ...
