"""What a provider type can do, declared as data on its class.

Everything that used to ask "is this the llama.cpp provider?" asks the declaration instead:
where the weights are (a local file this machine loads, or a remote service), which operations
the provider offers, and how many calls one weight file or endpoint takes at once. A plugin's
provider declares the same and is treated the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: ``score``: continuations of one prompt scored in one call, the prompt evaluated once for all
#: (:class:`~weighbridge.types.ScoreRequest`); log-likelihood evaluations ask every question so.
Operation = Literal["chat", "text", "logprobs", "score", "embeddings", "tokenize", "images"]
Weights = Literal["file", "remote"]


@dataclass(frozen=True)
class Capabilities:
    """``weights``: ``"file"`` when the provider loads a weight file on this machine (its path is
    the target's upstream; it can be hashed, pinned, quantized, tuned, and data sent to it stays
    here), ``"remote"`` when a service holds them. ``operations``: what it answers.
    ``concurrency``: how many calls one weight file or endpoint takes at once (``None``: as many
    as the caller allows). ``adapters``: whether it loads a LoRA adapter folder on top of the
    weights (a serve entry's ``adapter``)."""

    weights: Weights
    operations: frozenset[Operation]
    concurrency: int | None = None
    adapters: bool = False

    def offers(self, operation: Operation) -> bool:
        return operation in self.operations

    @property
    def needs_base_url(self) -> bool:
        return self.weights == "remote"
