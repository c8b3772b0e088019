"""The worked example: the source article's table recomputed by the calculator
(examples/crossover_article.py), with the places it agrees and where it does not pinned."""

from __future__ import annotations

import runpy
from typing import Any

import pytest

from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "crossover_article.py"


@pytest.fixture(scope="module")
def article() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLE))


def test_the_article_api_figures_follow_from_its_own_price(article: dict[str, Any]) -> None:
    rows = {c.claim: c for c in article["claims"]()}
    assert rows["10,000 tokens/day, API"].computed.startswith("$0.50-$2.00")
    assert rows["1,000,000 tokens/day, API"].computed.startswith("$50.00-$200.00")
    assert rows["100,000,000 tokens/day, API"].computed.startswith("$5,000.00-$20,000.00")


def test_where_the_gpu_figures_disagree(article: dict[str, Any]) -> None:
    rows = {c.claim: c for c in article["claims"]()}
    # One always-on A10G at the article's own $0.75-$1.50/h: $18-$36 a day, not $25-$50.
    assert rows["1,000,000 tokens/day, GPU rental"].computed.startswith("$18-$36 (1 A10G")
    # 100M tokens a day fit on 2 batched A10Gs: $36-$72, not $800-$2,000 ...
    assert rows["100,000,000 tokens/day, GPU rental"].computed.startswith("$36-$72 (2 A10G")
    assert rows["100,000,000 tokens/day, GPU rental"].agrees == "no"
    # ... which is what 10-52 tokens/s a machine would cost: one unbatched stream.
    slow, fast = article["implied_tokens_per_s"]()
    assert (round(slow), round(fast)) == (10, 52)
    assert fast < article["A10G_LLAMA_8B"] / 8
    # Its own API prices cross over at 2.7M-21.9M tokens a month, not 50M-100M.
    assert rows["7B-class crossover, at the article's own API prices"].computed == "2.7M-21.9M tokens/month"


def test_where_it_agrees_with_todays_prices(article: dict[str, Any]) -> None:
    rows = {c.claim: c for c in article["claims"]()}
    assert rows["A10G price per hour"].agrees == "yes"
    assert rows["7B-class crossover, at today's frontier API prices"].computed.startswith("49M-131M")
    today = {model: (per_m, first, times) for model, per_m, first, times in article["today"](1.006, 1.0)}
    assert today["gpt-5"][1] == pytest.approx(1.006 * 730 / 5.625e-6)
    assert today["claude-opus-4-7"][2] == pytest.approx(43.6, abs=0.1)
    assert today["llama-3-8b-instruct"][1] is None  # the same model hosted is cheaper than an A10G
    machine, floor, first = article["llama_405b"]()
    assert machine == 23.92 and floor == pytest.approx(2.97, abs=0.01)
    assert first == pytest.approx(4.99e9, rel=1e-2)
