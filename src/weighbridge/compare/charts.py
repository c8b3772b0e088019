"""Scatter charts as inline SVG, drawn here so a report needs no script and no network.

Each model is a point (score against cost or latency) with its 95% interval as a vertical
bar; the models no other beats on both axes (the Pareto front: nothing is both better and
cheaper) are joined by a line. Costs span orders of magnitude between a local model and a
frontier API, so an axis whose values spread over more than 20x is logarithmic. Every label
is escaped: model names come from users' files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from weighbridge.money.amounts import format_usd_short

WIDTH, HEIGHT = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 44
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    low: float | None = None
    high: float | None = None
    color: str | None = None


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def pareto(points: list[Point]) -> list[Point]:
    """The points no other point beats on both axes (lower x, higher y), by x."""
    front = [
        p for p in points if not any(q.x <= p.x and q.y >= p.y and (q.x, q.y) != (p.x, p.y) for q in points)
    ]
    return sorted(front, key=lambda p: p.x)


def scatter(points: list[Point], *, x_label: str, y_label: str, x_format: str, title: str) -> Markup:
    """An SVG scatter chart; ``x_format`` is a format spec for tick labels (``"$"`` for money)."""
    head = (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )
    if not points:
        return Markup(
            head + f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
            f"no {escape(x_label)} to plot</text></svg>"
        )
    xs = [p.x for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) > 20
    to_x, ticks = _x_axis(xs, log)
    plot_h = HEIGHT - TOP - BOTTOM

    def to_y(value: float) -> float:
        return TOP + (1 - value) * plot_h

    parts = [
        head,
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{plot_h}" class="plot"/>',
    ]
    for value in (0, 0.25, 0.5, 0.75, 1):
        y = to_y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value:g}</text>')
    for value in ticks:
        x = to_x(value)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
            f"{escape(_tick(value, x_format))}</text>"
        )
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" class="axis">'
        f"{escape(x_label)}{' (log scale)' if log else ''}</text>"
    )
    parts.append(
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle" class="axis">'
        f"{escape(y_label)}</text>"
    )
    front = pareto(points)
    if len(front) > 1:
        path = " ".join(f"{to_x(p.x):.1f},{to_y(p.y):.1f}" for p in front)
        parts.append(f'<polyline points="{path}" class="front"/>')
    placed: list[tuple[float, float]] = []
    for index, p in enumerate(points):
        x, y, fill = to_x(p.x), to_y(p.y), p.color or color(index)
        label_y = y - 8
        while any(abs(x - px) < 60 and abs(label_y - py) < 12 for px, py in placed):
            label_y += 13  # a model with the same numbers as another: its name goes below
        placed.append((x, label_y))
        if p.low is not None and p.high is not None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{to_y(p.high):.1f}" y2="{to_y(p.low):.1f}" '
                f'stroke="{fill}" class="ci"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}" class="point">'
            f"<title>{escape(p.label)}: {p.y:.2f} at {escape(_tick(p.x, x_format))}</title></circle>"
        )
        anchor = "end" if x > WIDTH * 0.7 else "start"
        dx = -9 if anchor == "end" else 9
        parts.append(
            f'<text x="{x + dx:.1f}" y="{label_y:.1f}" text-anchor="{anchor}" class="label">'
            f"{escape(p.label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _x_axis(xs: list[float], log: bool) -> tuple[_Scale, list[float]]:
    plot_w = WIDTH - LEFT - RIGHT
    pad = 0.08 * plot_w
    if log:
        first, last = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
        last = max(last, first + 1)
        decades = [10.0**e for e in range(first, last + 1)]
        return _Scale(float(first), float(last), LEFT + pad, plot_w - 2 * pad, log=True), decades
    step = _nice_step(max(xs) / 4 if max(xs) > 0 else 0.25)
    top = math.ceil(max(xs) / step) * step or step
    ticks = [i * step for i in range(round(top / step) + 1)]
    return _Scale(0.0, top, LEFT + pad, plot_w - 2 * pad, log=False), ticks


class _Scale:
    def __init__(self, lo: float, hi: float, start: float, width: float, *, log: bool) -> None:
        self.lo, self.hi, self.start, self.width, self.log = lo, hi, start, width, log

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return float(self.start + (v - self.lo) / ((self.hi - self.lo) or 1.0) * self.width)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def _tick(value: float, fmt: str) -> str:
    if fmt == "$":
        return "$0" if value == 0 else format_usd_short(value)
    if fmt == "s":
        return f"{value:.2g} s" if value < 1 else f"{value:,.1f} s"
    return f"{value:g}"
