"""The measured source of throughput: a short real run of the embedded model through the
client on this machine, logged under its own source and left out of the traffic mix."""

from __future__ import annotations

import json

from tests.support.cli import invoke
from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.money.spend import input_share
from weighbridge.money.throughput import SOURCE, measure, save_serving, stored


def test_measures_the_embedded_model_here() -> None:
    with Client(load_settings(), source=SOURCE) as client:
        measured = measure(client, "smollm2-135m", runs=1, new_tokens=12)
        sources = {record.source for record in client.store.recent(10)}
        assert input_share(client.store, exclude_source=SOURCE) is None
        assert input_share(client.store) is not None
    assert measured.decode_tokens_per_s > 0
    assert measured.prefill_tokens_per_s is not None and measured.prefill_tokens_per_s > 0
    assert "measured here" in measured.source
    assert sources == {SOURCE}


def test_a_stored_serving_benchmark_is_the_crossovers_throughput() -> None:
    settings = load_settings()
    store = settings.open_store()
    try:
        save_serving(store, settings, "smollm2-135m", {1: 104.4, 8: 150.6, 16: 205.6}, "2 cores, x86_64")
        found = stored(store, settings, "smollm2-135m")
        with store.connection() as db:  # a result for other weights (a re-quantized file) is not used
            db.execute("UPDATE benchmarks SET weight_sha256 = 'other'")
        assert stored(store, settings, "smollm2-135m") is None
    finally:
        store.close()
    assert found is not None and found.decode_tokens_per_s == 205.6 and found.prefill_tokens_per_s is None
    assert "at 16 concurrent clients" in found.source and "2 cores" in found.source

    fresh = settings.open_store()
    try:
        save_serving(fresh, settings, "smollm2-135m", {8: 150.6, 16: 205.6}, "2 cores, x86_64")
    finally:
        fresh.close()
    done = invoke("crossover", "--local", "smollm2-135m", "--api", "gpt-5", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["inputs"]["decode_tokens_per_s"] == 205.6  # no measured run: the stored figure
    assert result["inputs"]["sources"]["throughput"].startswith("the serving benchmark of ")
