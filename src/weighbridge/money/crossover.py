"""Where self-hosting an open model becomes cheaper than paying per token: pure arithmetic.

The model, for a monthly volume ``V`` of tokens of which a share ``s`` are input (prompt):

* A machine processes input at ``prefill`` tokens/s and generates output at ``decode``
  tokens/s (aggregate over its concurrent requests). Input is much cheaper to process than
  output (prefill runs all prompt tokens through the model at once; decode makes one pass per
  token), so the two are timed apart: one token of the mix takes
  ``s / prefill + (1 - s) / decode`` machine-seconds.
* A machine is rented all month (``HOURS_PER_MONTH`` = 730, the cloud convention of
  365 x 24 / 12) whatever it does, and is kept at most ``utilisation`` busy: traffic comes in
  bursts, so a fleet sized for the average would queue at the peaks. One machine therefore
  carries ``capacity = 3600 x 730 x utilisation / seconds_per_token`` tokens a month, and a
  token costs at least ``usd_per_hour / (3600 x utilisation) x seconds_per_token``: a machine
  busy half the time costs per useful hour twice its hourly price.
* Volume beyond one machine's capacity needs another machine: self-hosting costs
  ``ceil(V / capacity)`` machine-months, a step at each new machine (at least one machine
  for any traffic at all).
* An API costs ``V x (s x input price + (1 - s) x output price)``, a straight line.

The line crosses the steps first at ``V = machine-month / API price``, if that is within one
machine's capacity; otherwise the API is cheaper per token than even a fully used machine and
self-hosting never pays. Past the first crossing, each step can hand the advantage back for a
while: just after the ``n``-th machine is added the fleet is mostly idle, and the API is
cheaper until ``V = n x machine-month / API price``. Those windows shrink as the fleet grows,
and ``for_good`` is the volume after the last of them.

Nothing here reads files, clocks or networks: the inputs are all in :class:`Scenario`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from weighbridge.errors import InvalidRequestError

HOURS_PER_MONTH = 730.0
#: Prefill tokens/s per decode token/s when only decode speed is known. Prompt processing
#: runs a prompt's tokens through the model in one batched pass, so it is many times faster
#: than generation: the embedded model's measured runs on the project's 2-core machine put it
#: at 13-20x (the README, "What self-hosting costs"). 10 is the cautious side of that, since
#: a batching engine's aggregate decode narrows the gap. Pass a measured prefill speed where you have one.
PREFILL_RATIO = 10.0


@dataclass(frozen=True)
class ApiPrice:
    model: str
    input_per_mtok: float
    output_per_mtok: float
    source: str = ""

    def __post_init__(self) -> None:
        if self.input_per_mtok < 0 or self.output_per_mtok < 0:
            raise InvalidRequestError(f"the price of {self.model} cannot be negative")

    def per_mtok(self, input_share: float) -> float:
        """USD per million tokens of the given mix."""
        return input_share * self.input_per_mtok + (1 - input_share) * self.output_per_mtok


@dataclass(frozen=True)
class Scenario:
    """Everything the arithmetic needs; each figure checked once, here."""

    local_model: str
    decode_tokens_per_s: float
    prefill_tokens_per_s: float
    usd_per_hour: float
    utilisation: float
    input_share: float
    apis: tuple[ApiPrice, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not (self.decode_tokens_per_s > 0 and math.isfinite(self.decode_tokens_per_s)):
            raise InvalidRequestError("the local model's tokens/s must be a positive number")
        if not (self.prefill_tokens_per_s > 0 and math.isfinite(self.prefill_tokens_per_s)):
            raise InvalidRequestError("the local model's prefill tokens/s must be a positive number")
        if not (self.usd_per_hour >= 0 and math.isfinite(self.usd_per_hour)):
            raise InvalidRequestError("the hardware price per hour cannot be negative")
        if not 0 < self.utilisation <= 1:
            raise InvalidRequestError("utilisation must be above 0 and at most 1 (0.5: busy half the time)")
        if not 0 <= self.input_share <= 1:
            raise InvalidRequestError("the input share must be between 0 and 1")

    @property
    def seconds_per_token(self) -> float:
        """Machine-seconds one token of the mix takes."""
        return (
            self.input_share / self.prefill_tokens_per_s + (1 - self.input_share) / self.decode_tokens_per_s
        )

    @property
    def capacity(self) -> float:
        """Tokens a month one machine carries at the given utilisation."""
        return 3600 * HOURS_PER_MONTH * self.utilisation / self.seconds_per_token

    @property
    def machine_month_usd(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH

    @property
    def floor_per_mtok(self) -> float:
        """USD per million tokens with every machine full: the cheapest self-hosting gets."""
        return self.machine_month_usd / self.capacity * 1e6

    def machines(self, volume: float) -> int:
        """Machines a monthly volume needs: at least one for any traffic."""
        if volume <= 0:
            return 0
        return max(1, math.ceil(volume / self.capacity - 1e-12))

    def self_hosted_usd(self, volume: float) -> float:
        return self.machines(volume) * self.machine_month_usd

    def api_usd(self, api: ApiPrice, volume: float) -> float:
        return volume * api.per_mtok(self.input_share) / 1e6


@dataclass(frozen=True)
class Crossover:
    api: ApiPrice
    #: USD per million tokens of the mix, through the API.
    api_per_mtok: float
    #: API price over self-hosting's price with every machine full: above 1, self-hosting is
    #: that many times cheaper at scale; below 1, the API always is.
    times_cheaper_at_scale: float
    #: The smallest monthly volume at which self-hosting is no dearer; None: never.
    first: float | None
    #: The volume from which self-hosting stays cheaper at every larger volume; None: never.
    for_good: float | None
    #: Volume ranges after ``first`` where the API is cheaper again (just after a new
    #: machine): the first few, and how many there are in all (None: without end).
    api_windows: list[tuple[float, float]]
    api_window_count: int | None


def crossover(scenario: Scenario, api: ApiPrice, *, windows_listed: int = 5) -> Crossover:
    """Where ``api``'s straight line crosses ``scenario``'s steps (see the module docstring)."""
    per_mtok = api.per_mtok(scenario.input_share)
    month, capacity = scenario.machine_month_usd, scenario.capacity
    floor = scenario.floor_per_mtok
    times = per_mtok / floor if floor > 0 else math.inf
    if per_mtok <= 0:
        return Crossover(api, per_mtok, times, None, None, [], 0)
    per_token = per_mtok / 1e6
    first = month / per_token
    if first > capacity * (1 + 1e-12):
        return Crossover(api, per_mtok, times, None, None, [], 0)
    ratio = per_token * capacity / month if month > 0 else math.inf
    if ratio <= 1 + 1e-12:  # equal at full load: every new machine hands the lead back
        return Crossover(api, per_mtok, times, first, None, [], None)

    def window(n: int) -> tuple[float, float]:
        return (n - 1) * capacity, n * month / per_token

    # The last n with n / (n - 1) > ratio, checked against the windows themselves.
    last = 1 if math.isinf(ratio) else max(1, math.ceil(ratio / (ratio - 1)) - 1)
    while last >= 2 and window(last)[1] <= window(last)[0]:
        last -= 1
    while window(last + 1)[1] > window(last + 1)[0]:
        last += 1
    listed = [window(n) for n in range(2, min(last, windows_listed + 1) + 1)]
    for_good = window(last)[1] if last >= 2 else first
    return Crossover(api, per_mtok, times, first, for_good, listed, last - 1)


@dataclass(frozen=True)
class Row:
    volume: float
    machines: int
    self_hosted_usd: float
    api_usd: tuple[float, ...]

    @property
    def self_per_mtok(self) -> float:
        return self.self_hosted_usd / self.volume * 1e6


def table(scenario: Scenario, volumes: list[float]) -> list[Row]:
    """Monthly cost of each option at each volume."""
    return [
        Row(
            v,
            scenario.machines(v),
            scenario.self_hosted_usd(v),
            tuple(scenario.api_usd(api, v) for api in scenario.apis),
        )
        for v in volumes
    ]


def default_volumes(scenario: Scenario, crossings: list[Crossover]) -> list[float]:
    """Powers of ten from 1M to 10B tokens a month, widened to show every crossing and the
    first steps."""
    marks = [c.first for c in crossings if c.first] + [c.for_good for c in crossings if c.for_good]
    marks += [scenario.capacity, 2 * scenario.capacity]
    low = min([6, *(math.floor(math.log10(m)) for m in marks)])
    high = max([10, *(math.ceil(math.log10(m)) for m in marks)])
    return [10.0**k for k in range(low, high + 1)]
