"""Exact sums of logged costs, and how every money figure is shown: the one home for that.

The log stores each call's cost as a float. Adding floats drifts (``0.1 + 0.2`` is not
``0.3``), and a total that differs from its parts by a fraction of a cent cannot be reconciled
with an invoice. So each stored cost is read as the decimal its shortest ``repr`` spells, and
added as a :class:`~decimal.Decimal`: the sum is exact, whatever the order. Rounding happens
once, for display only, half-to-even to the cent. Below a cent the figure keeps two
significant digits instead, because a local model's spend is often a fraction of a cent and
must never read as "$0".
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")


def exact(value: float | None) -> Decimal:
    """A stored cost as the decimal it was written as; a missing cost adds nothing."""
    if value is None:
        return ZERO
    return Decimal(repr(float(value)))


def to_cents(amount: Decimal) -> Decimal:
    """Round half-to-even to the cent, the way money is reported."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def format_usd(amount: Decimal) -> str:
    """``$1,234.57`` from a cent up; two significant digits below it; ``$0`` only for nothing."""
    if amount == 0:
        return "$0"
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size >= CENT:
        return f"{sign}${to_cents(size):,.2f}"
    places = -size.adjusted() + 1  # two significant digits
    return f"{sign}${size.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def format_cost(value: float | None) -> str:
    """One call's cost, or a per-prompt figure: four decimals from a cent up, and enough digits
    below it that a local model's $0.0000017 is not rounded away; ``-`` when unknown."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if value >= 0.01:
        return f"${value:,.4f}"
    return f"${value:.2g}" if value < 1e-6 else f"${value:.7f}".rstrip("0")


def seconds(value: float | None) -> str:
    """A call's latency, ``1.23 s`` (``-`` when unknown). It stands beside the call's cost in
    every table, so it is kept with the cost's format, low enough for the CLI and the page alike."""
    return "-" if value is None else f"{value:.2f} s"


def format_usd_short(value: float) -> str:
    """A chart tick or table cell: cents from a cent up, two significant digits below."""
    return f"${value:.2g}" if value < 0.01 else f"${value:,.2f}"
