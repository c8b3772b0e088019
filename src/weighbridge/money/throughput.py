"""How fast a local model runs here: a short measured run through the client.

Each run streams one answer (temperature 0, a fixed number of new tokens) to a prompt of a
few hundred tokens, distinct per run so no prompt cache answers for the model. The first
token's time is mostly prompt processing, so prefill speed is prompt tokens over time to first
token; decode speed is the tokens after the first over the time after it. A warm-up call loads
the model first and is not counted. The runs are real inferences, so they are logged like any
other, under the source ``crossover`` (which the traffic-mix default leaves out).

This is one stream at a time. An engine that batches concurrent requests (llama.cpp's server,
vLLM) carries several times more in aggregate, and the crossover should be fed that aggregate
figure (``--tokens-per-s``) when one machine serves many users.

``bench/serving.py`` measures that aggregate through ``weighbridge serve`` at 1 to 16
concurrent clients and stores it (:func:`save_serving`); :func:`stored` reads the newest result
for the model's current weight file (a re-quantized file is another model), and the crossover
takes its best level: what one machine carries when it is kept busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from weighbridge.errors import InvalidRequestError
from weighbridge.store import benchmarks

if TYPE_CHECKING:
    from weighbridge.client import Client
    from weighbridge.config import Settings
    from weighbridge.store import Store
    from weighbridge.types import ChatResponse

#: The source label of the measurement runs in the log.
SOURCE = "crossover"
#: The kind of stored benchmark the serving benchmark writes.
SERVING = "serving"
_FILLER = (
    "A weighbridge weighs each lorry as it crosses, and the ledger beside it keeps the weight, "
    "the time and the load, so that nothing leaves the yard unrecorded. "
)


@dataclass(frozen=True)
class Throughput:
    decode_tokens_per_s: float
    #: None when only decode speed is known (the crossover then assumes a ratio).
    prefill_tokens_per_s: float | None
    #: Where the figures came from, in words, for the report.
    source: str


def measure(client: Client, model: str, *, runs: int = 3, new_tokens: int = 64) -> Throughput:
    """Decode and prefill tokens/s of ``model`` on this machine, one stream at a time.
    The client should be made with ``source=SOURCE`` so the runs are labelled in the log."""
    from weighbridge.targets import resolve

    target = resolve(client.settings, model)
    if not target.runs_locally:
        raise InvalidRequestError(
            f"{model} runs at {target.provider_name}, not on this machine: pass --tokens-per-s for it"
        )
    _stream(client, model, "Say hello.", 8)  # loads the model; not timed
    prompt_tokens = ttft = decoded = decode_time = 0.0
    for i in range(runs):
        prompt = f"Entry {i + 1} of the ledger. " + _FILLER * 8 + "Describe the weighbridge."
        response = _stream(client, model, prompt, new_tokens)
        if response.ttft_s is None or response.usage.completion_tokens < 2:
            raise InvalidRequestError(f"{model} stopped too soon to be timed; pass --tokens-per-s")
        prompt_tokens += response.usage.prompt_tokens
        ttft += response.ttft_s
        decoded += response.usage.completion_tokens - 1
        decode_time += response.latency_s - response.ttft_s
    return Throughput(
        decoded / decode_time,
        prompt_tokens / ttft,
        f"measured here: {runs} single-stream runs of {model}, {new_tokens} new tokens each",
    )


def _stream(client: Client, model: str, prompt: str, new_tokens: int) -> ChatResponse:
    answer = client.stream(prompt, model=model, max_tokens=new_tokens, temperature=0)
    for _ in answer:
        pass
    if answer.response is None:
        raise InvalidRequestError(f"{model} gave no answer to time")
    return answer.response


def save_serving(
    store: Store, settings: Settings, model: str, tokens_per_s_by_clients: dict[int, float], machine: str
) -> None:
    """Keep a serving benchmark's aggregate tokens/s through ``weighbridge serve``, per number
    of concurrent clients, for ``crossover`` to use."""
    figures = {"tokens_per_s_by_clients": {str(n): v for n, v in sorted(tokens_per_s_by_clients.items())}}
    result = benchmarks.Benchmark(
        benchmarks.now(), SERVING, model, _weights(store, settings, model), machine, figures
    )
    with store.connection() as db:
        benchmarks.save(db, result)


def stored(store: Store, settings: Settings, model: str) -> Throughput | None:
    """The newest stored serving benchmark of ``model``'s current weights, at its best level."""
    weights = _weights(store, settings, model)  # before taking the connection: hashing uses it too
    with store.connection() as db:
        found = benchmarks.latest(db, SERVING, model, weights)
    if found is None:
        return None
    levels = {int(n): float(v) for n, v in found.figures["tokens_per_s_by_clients"].items()}
    clients, best = max(levels.items(), key=lambda level: level[1])
    return Throughput(
        best,
        None,
        f"the serving benchmark of {found.created_at[:10]} ({found.machine}): {best:.1f} aggregate "
        f"tokens/s at {clients} concurrent clients through weighbridge serve",
    )


def _weights(store: Store, settings: Settings, model: str) -> str | None:
    from weighbridge.targets import resolve
    from weighbridge.weights import weight_sha256

    target = resolve(settings, model)
    return (
        weight_sha256(store, target.weight_file, target.adapter) if target.weight_file is not None else None
    )
