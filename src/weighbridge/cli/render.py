"""Small formatting helpers shared by the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from weighbridge.money.amounts import format_cost, seconds

if TYPE_CHECKING:
    from weighbridge.types import ChatResponse

#: ``seconds`` is kept with ``format_cost`` (money.amounts), where the page reaches it too.
__all__ = ["figures", "seconds"]


def figures(response: ChatResponse) -> str:
    """One line under an answer: where it ran, tokens, time, speed and cost."""
    usage = response.usage
    parts = [
        f"{response.model} via {response.provider}",
        f"{usage.prompt_tokens} in / {usage.completion_tokens} out tokens",
        f"{seconds(response.latency_s)}"
        + (f" (first token {seconds(response.ttft_s)})" if response.ttft_s is not None else ""),
    ]
    if response.tokens_per_s is not None:
        parts.append(f"{response.tokens_per_s:.0f} tokens/s")
    parts.append(f"{format_cost(response.cost_usd)} ({response.cost_basis})")
    return "-- " + " · ".join(parts)
