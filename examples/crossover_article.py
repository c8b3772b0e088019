"""The brief's source article on self-hosting costs, recomputed with weighbridge's calculator.

    .venv/bin/python examples/crossover_article.py

The article's claims (as quoted in issue 9): one A10G at $0.75-$1.50 an hour "handles dozens of
requests per second" of Llama 3 8B Instruct; Llama 3.1 405B needs several high-end GPUs at
$20-$30 an hour; per day, 10k tokens cost $0.50-$2 through a closed API, 1M tokens ~$25-$50 of
GPU rental against $50-$200 of API, 100M tokens ~$800-$2,000 against $5,000-$20,000; and a
7B-class model crosses over "around 50-100 million tokens per month".

Every input below is written down with its source. Each figure is then computed by
``weighbridge.money.crossover`` exactly as ``weighbridge crossover`` computes it, so the
comparison with the article is the calculator's, not prose. The README ("What self-hosting
costs") reads the output.
"""

from __future__ import annotations

from dataclasses import dataclass

from weighbridge.catalog import Catalog, shipped_catalog_data
from weighbridge.money.crossover import HOURS_PER_MONTH, PREFILL_RATIO, ApiPrice, Scenario, crossover
from weighbridge.money.inputs import api_price
from weighbridge.money.presets import preset

DAYS_PER_MONTH = HOURS_PER_MONTH / 24

# --- Throughput (aggregate output tokens/s of one machine, continuous batching) -------------
#: LambdaLabsML/vllm-benchmark, benchmark_v0.md: vLLM 0.5.4, ShareGPT, 320 prompts in flight.
LAMBDA_BENCHMARK = "https://github.com/LambdaLabsML/vllm-benchmark/blob/main/benchmark_v0.md"
A100_80GB_LLAMA_8B = 1517.54  # 1x A100-80GB-SXM, Meta-Llama-3.1-8B-FP8
H100X8_LLAMA_405B = 1230.74  # 8x H100-80GB-SXM, Hermes-3-Llama-3.1-405B-FP8
#: Decode is memory-bound, so an A10G is estimated from the A100 by memory bandwidth:
#: 600 GB/s (NVIDIA A10 datasheet; the A10G is AWS's variant of it) against 2,039 GB/s
#: (NVIDIA A100 80GB SXM datasheet). An estimate, not a measurement: no A10G was at hand.
A10G_BANDWIDTH_GBPS, A100_80GB_BANDWIDTH_GBPS = 600.0, 2039.0
A10G_LLAMA_8B = A100_80GB_LLAMA_8B * A10G_BANDWIDTH_GBPS / A100_80GB_BANDWIDTH_GBPS
#: One stream cannot decode faster than the card reads the weights once per token:
#: 600 GB/s over 16 GB of fp16 weights.
A10G_SINGLE_STREAM_CEILING = A10G_BANDWIDTH_GBPS / 16.0

# --- Prices ----------------------------------------------------------------------------------
#: The article's own hourly range for an A10G, and the AWS list price (presets.toml).
A10G_LOW, A10G_HIGH = 0.75, 1.50
#: The article's API prices per day divide to $50-$200 per million tokens at every volume.
ARTICLE_API = (
    ApiPrice("article, low", 50.0, 50.0, "the article"),
    ApiPrice("article, high", 200.0, 200.0, "the article"),
)
#: The price list the article's figures match: GPT-4 at launch, $30/$60 per million tokens
#: (8k context) and $60/$120 (32k), https://openai.com/index/gpt-4-research/ (2023-03-14).
GPT4_2023 = (
    ApiPrice("gpt-4 (2023)", 30.0, 60.0, "OpenAI, 2023-03-14"),
    ApiPrice("gpt-4-32k (2023)", 60.0, 120.0, "OpenAI, 2023-03-14"),
)
#: Today's catalog prices (src/weighbridge/catalog/catalog.toml, each with its date and source).
CATALOG_APIS = (
    "gpt-5",
    "claude-sonnet-4-5",
    "claude-opus-4-7",
    "gpt-5-mini",
    "gpt-4o-mini",
    "llama-3-8b-instruct",
)
#: The frontier closed models the article's "10-100x" is about.
FRONTIER = ("gpt-5", "claude-sonnet-4-5", "claude-opus-4-7")
#: The article gives no input/output split: an even one (ShareGPT-style chat is near it).
INPUT_SHARE = 0.5


@dataclass(frozen=True)
class Claim:
    claim: str
    article: str
    computed: str
    agrees: str  # yes, no, or partly (with the reason in ``computed``)


def a10g(usd_per_hour: float, utilisation: float = 1.0, apis: tuple[ApiPrice, ...] = ()) -> Scenario:
    return Scenario(
        "llama-3-8b-instruct on 1x A10G",
        A10G_LLAMA_8B,
        A10G_LLAMA_8B * PREFILL_RATIO,
        usd_per_hour,
        utilisation,
        INPUT_SHARE,
        apis,
    )


def per_day(scenario: Scenario, tokens_per_day: float) -> float:
    return scenario.self_hosted_usd(tokens_per_day * DAYS_PER_MONTH) / DAYS_PER_MONTH


def api_per_day(scenario: Scenario, api: ApiPrice, tokens_per_day: float) -> float:
    return scenario.api_usd(api, tokens_per_day * DAYS_PER_MONTH) / DAYS_PER_MONTH


def catalog_prices() -> list[ApiPrice]:
    catalog = Catalog.model_validate(shipped_catalog_data())
    return [api_price(catalog, model) for model in CATALOG_APIS]


def claims() -> list[Claim]:
    low, high = a10g(A10G_LOW), a10g(A10G_HIGH)
    g5 = preset("aws-g5-xlarge").usd_per_hour
    out = [
        Claim(
            "A10G price per hour",
            "$0.75-$1.50",
            f"AWS g5.xlarge list ${g5:g} (on-demand, us-east-1)",
            "yes" if A10G_LOW <= g5 <= A10G_HIGH else "no",
        )
    ]
    answer_tokens = 250  # a typical chat answer; dozens of requests/s need answers under ~20 tokens
    rate = A10G_LLAMA_8B / answer_tokens
    out.append(
        Claim(
            "one A10G serves Llama 3 8B at",
            "dozens of requests/s",
            f"~{A10G_LLAMA_8B:.0f} output tokens/s in aggregate: "
            f"{rate:.1f} requests/s of {answer_tokens}-token answers",
            "yes" if rate >= 24 else "no",
        )
    )
    api_lo, api_hi = ARTICLE_API
    rows = ((1e4, "$0.50-$2", None), (1e6, "$50-$200", "$25-$50"), (1e8, "$5,000-$20,000", "$800-$2,000"))
    for tokens, article_api, article_gpu in rows:
        api_text = f"${api_per_day(low, api_lo, tokens):,.2f}-${api_per_day(low, api_hi, tokens):,.2f}"
        out.append(
            Claim(f"{tokens:,.0f} tokens/day, API", article_api, api_text + " (its own $50-$200/M)", "yes")
        )
        if article_gpu is None:
            continue
        machines = low.machines(tokens * DAYS_PER_MONTH)
        cheap, dear = per_day(low, tokens), per_day(high, tokens)
        gpu_text = (
            f"${cheap:,.0f}-${dear:,.0f} ({machines} A10G at $0.75-$1.50/h, always on, kept fully busy)"
        )
        lo_claim, hi_claim = (float(x.strip("$").replace(",", "")) for x in article_gpu.split("-"))
        overlap = cheap <= hi_claim and dear >= lo_claim
        out.append(
            Claim(
                f"{tokens:,.0f} tokens/day, GPU rental", article_gpu, gpu_text, "partly" if overlap else "no"
            )
        )
    own = [crossover(s, api).first or 0.0 for s, api in ((low, api_hi), (high, api_lo))]
    out.append(
        Claim(
            "7B-class crossover, at the article's own API prices",
            "50M-100M tokens/month",
            f"{own[0] / 1e6:.1f}M-{own[1] / 1e6:.1f}M tokens/month",
            "no",
        )
    )
    frontier = [row for row in today(g5, 1.0) if row[0] in FRONTIER]
    firsts = [first for _, _, first, _ in frontier if first is not None]
    times = [t for _, _, _, t in frontier]
    out.append(
        Claim(
            "7B-class crossover, at today's frontier API prices",
            "50M-100M tokens/month",
            f"{min(firsts) / 1e6:.0f}M-{max(firsts) / 1e6:.0f}M tokens/month on a g5.xlarge "
            f"({', '.join(FRONTIER)})",
            "yes",
        )
    )
    hosted = next(t for m, _, _, t in today(g5, 1.0) if m == "llama-3-8b-instruct")
    out.append(
        Claim(
            "self-hosting per token at volume",
            "10-100x cheaper",
            f"{min(times):.0f}-{max(times):.0f}x cheaper than {', '.join(FRONTIER)} with the machine full, "
            f"half that at 50% busy; {hosted:.2f}x (dearer) against the same model hosted by Together",
            "partly",
        )
    )
    lambda_8 = preset("lambda-8x-h100-sxm").usd_per_hour
    p5 = preset("aws-p5-48xlarge").usd_per_hour
    out.append(
        Claim(
            "Llama 3.1 405B: several high-end GPUs at",
            "$20-$30/h",
            f"8x H100: Lambda ${lambda_8:g}/h, AWS p5.48xlarge ${p5:g}/h (list, on-demand)",
            "partly",
        )
    )
    return out


def implied_tokens_per_s() -> tuple[float, float]:
    """The per-A10G throughput the article's 100M-tokens/day GPU bill implies."""
    tokens_per_s = 1e8 / 86400
    fewest = 800 / 24 / A10G_HIGH  # the cheapest bill on the dearest machine: fewest machines
    most = 2000 / 24 / A10G_LOW
    return tokens_per_s / most, tokens_per_s / fewest


def today(usd_per_hour: float, utilisation: float) -> list[tuple[str, float, float | None, float]]:
    """Against today's APIs: each API's $/M, the crossover and how many times cheaper at scale."""
    scenario = a10g(usd_per_hour, utilisation, (*GPT4_2023, *catalog_prices()))
    rows = []
    for api in scenario.apis:
        c = crossover(scenario, api)
        rows.append((api.model, c.api_per_mtok, c.first, c.times_cheaper_at_scale))
    return rows


def llama_405b() -> tuple[float, float, float | None]:
    """8x H100 for Llama 3.1 405B: its price, the floor per million tokens, and the crossover
    with the same model hosted by Together (catalog price)."""
    machine = preset("lambda-8x-h100-sxm").usd_per_hour
    catalog = Catalog.model_validate(shipped_catalog_data())
    hosted = api_price(catalog, "llama-3.1-405b-instruct")
    scenario = Scenario(
        "llama-3.1-405b on 8x H100",
        H100X8_LLAMA_405B,
        H100X8_LLAMA_405B * PREFILL_RATIO,
        machine,
        1.0,
        INPUT_SHARE,
        (hosted,),
    )
    return machine, scenario.floor_per_mtok, crossover(scenario, hosted).first


def main() -> None:
    print(
        f"A10G Llama 3 8B: {A10G_LLAMA_8B:.1f} output tokens/s (estimated), "
        f"prefill {PREFILL_RATIO:g}x, {INPUT_SHARE:.0%} input\n"
    )
    print("| claim | article | weighbridge crossover | agrees |\n|---|---|---|---|")
    for c in claims():
        print(f"| {c.claim} | {c.article} | {c.computed} | {c.agrees} |")
    slow, fast = implied_tokens_per_s()
    print(
        f"\nThe article's 100M tokens/day GPU bill implies {slow:.0f}-{fast:.0f} tokens/s per A10G "
        f"(one unbatched stream tops out near {A10G_SINGLE_STREAM_CEILING:.0f}).\n"
    )
    for utilisation in (1.0, 0.5):
        g5 = preset("aws-g5-xlarge").usd_per_hour
        floor = a10g(g5, utilisation).floor_per_mtok
        print(f"g5.xlarge at ${g5:g}/h, {utilisation:.0%} busy: ${floor:.3f} per million tokens when full\n")
        print("| API | $ / M tokens | crossover (tokens/month) | times cheaper at scale |\n|---|---|---|---|")
        for model, per_m, first, times in today(g5, utilisation):
            where = f"{first / 1e6:,.0f}M" if first is not None else "never"
            print(f"| {model} | {per_m:.3f} | {where} | {times:.2f} |")
        print()
    machine, floor, first = llama_405b()
    print(
        f"Llama 3.1 405B on 8x H100 at ${machine:g}/h: ${floor:.2f} per million tokens when full; "
        f"crossover with Together's hosted 405B at {first / 1e9 if first else float('nan'):.2f}B tokens/month"
    )


if __name__ == "__main__":
    main()
