"""The measured source of throughput: a short real run of the embedded model through the
client on this machine, logged under its own source and left out of the traffic mix."""

from __future__ import annotations

from weighbridge.client import Client
from weighbridge.config import load_settings
from weighbridge.money.spend import input_share
from weighbridge.money.throughput import SOURCE, measure


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
