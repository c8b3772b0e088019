"""The crossover arithmetic against cases worked by hand, including the steps where a second
and third machine is added, and the presets it can be fed."""

from __future__ import annotations

import pytest

from weighbridge.errors import InvalidRequestError
from weighbridge.money.crossover import ApiPrice, Scenario, crossover, table
from weighbridge.money.presets import preset, presets

# One machine: 100 tokens/s in and out, half the tokens input: 0.5/100 + 0.5/100 = 0.01 s a
# token. At $1/h it costs $730 a month and carries 3600 x 730 / 0.01 = 262.8M tokens.
MIX = ApiPrice("mix", 2.0, 6.0)  # $4 per million at an even split
CHEAP = ApiPrice("cheap", 1.0, 3.0)  # $2 per million


def scenario(utilisation: float = 1.0, *apis: ApiPrice) -> Scenario:
    return Scenario("local", 100.0, 100.0, 1.0, utilisation, 0.5, apis)


def test_one_machine_by_hand() -> None:
    s = scenario()
    assert s.seconds_per_token == pytest.approx(0.01)
    assert s.capacity == pytest.approx(262.8e6)
    assert s.machine_month_usd == pytest.approx(730.0)
    assert s.floor_per_mtok == pytest.approx(730 / 262.8)  # $2.78 per million, full


def test_input_is_cheaper_than_output() -> None:
    prefill_fast = Scenario("local", 100.0, 1000.0, 1.0, 1.0, 0.5)
    assert prefill_fast.seconds_per_token == pytest.approx(0.5 / 1000 + 0.5 / 100)
    mostly_input = Scenario("local", 100.0, 1000.0, 1.0, 1.0, 0.9)
    assert mostly_input.floor_per_mtok < prefill_fast.floor_per_mtok


def test_the_step_at_a_second_machine() -> None:
    s = scenario()
    assert s.machines(1) == 1
    assert s.machines(262.8e6) == 1
    assert s.machines(262.8e6 + 1) == 2
    assert s.self_hosted_usd(262.8e6) == pytest.approx(730.0)
    assert s.self_hosted_usd(262.8e6 + 1) == pytest.approx(1460.0)
    assert s.machines(0) == 0


def test_the_crossing_and_the_windows_after_each_new_machine() -> None:
    c = crossover(scenario(1.0, MIX), MIX)
    assert c.api_per_mtok == pytest.approx(4.0)
    assert c.first == pytest.approx(182.5e6)  # $730 / $4 per million
    # Just past the 2nd machine (262.8M) the API is cheaper until 2 x 730 / 4 = 365M; past the
    # 3rd (525.6M) until 547.5M; the 4th machine (788.4M) is bought at $2,920, the API there
    # costs $3,153.60: self-hosting stays cheaper from 547.5M on.
    assert c.api_windows == [
        (pytest.approx(262.8e6), pytest.approx(365e6)),
        (pytest.approx(525.6e6), pytest.approx(547.5e6)),
    ]
    assert c.api_window_count == 2
    assert c.for_good == pytest.approx(547.5e6)
    assert c.times_cheaper_at_scale == pytest.approx(4 / (730 / 262.8))
    rows = table(scenario(1.0, MIX), [300e6, 400e6, 530e6, 550e6])
    assert [(r.machines, round(r.self_hosted_usd), round(r.api_usd[0])) for r in rows] == [
        (2, 1460, 1200),  # API cheaper: in the first window
        (2, 1460, 1600),
        (3, 2190, 2120),  # API cheaper: in the second
        (3, 2190, 2200),
    ]


def test_an_api_cheaper_than_a_full_machine_never_crosses() -> None:
    c = crossover(scenario(1.0, CHEAP), CHEAP)  # $2 against $2.78 per million at best
    assert (c.first, c.for_good) == (None, None)
    assert c.times_cheaper_at_scale == pytest.approx(2 / (730 / 262.8))


def test_utilisation_half_doubles_the_price_per_useful_token() -> None:
    half = scenario(0.5, MIX)
    assert half.capacity == pytest.approx(131.4e6)
    assert half.floor_per_mtok == pytest.approx(2 * scenario().floor_per_mtok)
    assert crossover(half, MIX).first is None  # $4 < $5.56: the busy-half machine never pays


def test_a_far_dearer_api_crosses_once() -> None:
    dear = ApiPrice("dear", 30.0, 30.0)
    c = crossover(scenario(1.0, dear), dear)
    assert c.first == pytest.approx(730 / 30e-6)
    assert (c.for_good, c.api_window_count, c.api_windows) == (pytest.approx(c.first), 0, [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decode_tokens_per_s": 0.0}, "tokens/s must be a positive number"),
        ({"prefill_tokens_per_s": -5.0}, "prefill tokens/s"),
        ({"usd_per_hour": -1.0}, "cannot be negative"),
        ({"utilisation": 0.0}, "utilisation"),
        ({"utilisation": 1.5}, "utilisation"),
        ({"input_share": 1.2}, "input share"),
    ],
)
def test_bad_inputs_are_refused(kwargs: dict[str, float], message: str) -> None:
    values = {
        "decode_tokens_per_s": 100.0,
        "prefill_tokens_per_s": 100.0,
        "usd_per_hour": 1.0,
        "utilisation": 1.0,
        "input_share": 0.5,
    }
    with pytest.raises(InvalidRequestError, match=message):
        Scenario("local", **{**values, **kwargs})  # type: ignore[arg-type]


def test_a_negative_api_price_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="cannot be negative"):
        ApiPrice("x", -1.0, 2.0)


def test_every_preset_says_its_terms_source_and_date() -> None:
    shipped = presets()
    assert {
        "aws-g5-xlarge",
        "aws-g6-xlarge",
        "aws-p5-h100",
        "gcp-g2-standard-4",
        "lambda-h100-pcie",
        "aws-c7i-large",
    } <= set(shipped)
    for name, entry in shipped.items():
        assert entry.source.startswith("https://"), name
        assert "on-demand" in entry.price or "pay-as-you-go" in entry.price, name
        assert entry.as_of[:4].isdigit(), name
    assert preset("aws-g5-xlarge").usd_per_hour == 1.006
    with pytest.raises(InvalidRequestError, match="aws-g5-xlarge"):
        preset("aws-g5-xl")
