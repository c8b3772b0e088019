"""What a call cost, in USD, and on what basis.

A closed model costs its catalog price per token. A local model costs the time it held the
machine at the self-hosting rate (catalog ``[self_hosting]``, overridable in config), so an
open model is never shown as free: the hardware is not. Requests served together share the
machine's time (:mod:`weighbridge.routing.load`), so each is charged its share.
"""

from __future__ import annotations

from weighbridge.catalog import ModelEntry, SelfHosting
from weighbridge.types import Usage

#: Conservative guesses for a reservation made before the answer exists: fewer characters
#: per token than any tokenizer averages, and a slow local machine.
CHARS_PER_TOKEN_FLOOR = 3
_LOCAL_TOKENS_PER_S_FLOOR = 20


def worst_case_usd(
    entry: ModelEntry,
    prompt_chars: int,
    max_tokens: int,
    *,
    runs_locally: bool,
    self_hosting: SelfHosting | None,
) -> float:
    """The most a request can cost, before it is sent: what a budget must hold back for it."""
    prompt_tokens = prompt_chars // CHARS_PER_TOKEN_FLOOR + 1
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=max_tokens)
    seconds = (prompt_tokens + max_tokens) / _LOCAL_TOKENS_PER_S_FLOOR
    cost, _ = cost_usd(entry, usage, busy_s=seconds, runs_locally=runs_locally, self_hosting=self_hosting)
    return cost or 0.0


def cost_usd(
    entry: ModelEntry,
    usage: Usage,
    *,
    busy_s: float,
    runs_locally: bool,
    self_hosting: SelfHosting | None,
) -> tuple[float | None, str]:
    """The cost of one call and a short note of how it was priced; ``busy_s`` is the machine
    time a local call had (its share, when it ran beside others)."""
    price = entry.price
    if price is not None and price.input_per_mtok is not None and price.output_per_mtok is not None:
        cost = (
            usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok
        ) / 1_000_000
        source = f"{price.provider or 'catalog'} price"
        when = f" as of {price.as_of}" if price.as_of else ""
        return cost, (f"{source}{when}: ${price.input_per_mtok:g}/M in, ${price.output_per_mtok:g}/M out")
    if runs_locally and self_hosting is not None:
        rate = self_hosting.usd_per_busy_hour  # the hourly price over the share of hours in use
        return busy_s * rate / 3600, f"local compute: {busy_s:.3f} s of the machine at ${rate:g}/h"
    return None, "no price in the catalog"
