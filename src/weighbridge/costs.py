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


#: What a budget holds back for one local image before it exists: a slow machine's time for a
#: large pipeline at many steps (the real charge is the time it took).
_LOCAL_SECONDS_PER_IMAGE_CEILING = 300.0


def image_cost_usd(
    entry: ModelEntry,
    size: str | None,
    quality: str | None,
    count: int,
    usage: Usage,
    *,
    busy_s: float,
    runs_locally: bool,
    self_hosting: SelfHosting | None,
) -> tuple[float | None, str]:
    """The cost of ``count`` pictures: the catalog's price for their size and quality, else its
    flat price per image, else the tokens a service billed (gpt-image-1 reports them), else,
    for a local pipeline, its machine time. A size or quality the table does not list is
    charged at the table's dearest price, and the note says so: never less than it may cost."""
    price = entry.price
    if price is not None and price.per_image:
        found = _image_price(price.per_image, size, quality)
        each, key = found if found else (max(price.per_image.values()), "")
        how = (
            key or f"the dearest listed ({size or 'default size'}/{quality or 'default quality'} not listed)"
        )
        when = f" as of {price.as_of}" if price.as_of else ""
        return each * count, f"{price.provider or 'catalog'} price{when}: ${each:g} per image ({how})"
    if price is not None and price.per_image_usd is not None:
        when = f" as of {price.as_of}" if price.as_of else ""
        return (
            price.per_image_usd * count,
            f"{price.provider or 'catalog'} price{when}: ${price.per_image_usd:g} per image",
        )
    if usage.total_tokens and not runs_locally:
        return cost_usd(entry, usage, busy_s=busy_s, runs_locally=False, self_hosting=self_hosting)
    return cost_usd(entry, Usage(), busy_s=busy_s, runs_locally=runs_locally, self_hosting=self_hosting)


def worst_case_image_usd(
    entry: ModelEntry,
    size: str | None,
    quality: str | None,
    count: int,
    *,
    runs_locally: bool,
    self_hosting: SelfHosting | None,
) -> float:
    """The most ``count`` pictures can cost, before they are made."""
    busy_s = _LOCAL_SECONDS_PER_IMAGE_CEILING * count
    cost, _ = image_cost_usd(
        entry,
        size,
        quality,
        count,
        Usage(),
        busy_s=busy_s,
        runs_locally=runs_locally,
        self_hosting=self_hosting,
    )
    return cost or 0.0


def _image_price(table: dict[str, float], size: str | None, quality: str | None) -> tuple[float, str] | None:
    for key in (f"{size}/{quality}", str(size)):
        if key in table:
            return table[key], key
    return None
